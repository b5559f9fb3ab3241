"""Each grading run is walled in (grader/worker/isolation.py), seen from inside real runs.

A run of a real worker reports what it can see and do; the assertions are the walls: its own
pid namespace, a private /tmp and /dev/shm, no capability, no fd of the judge's, nothing on
sys.path it could write, an allow-list file system, and a budget for all its processes.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import textwrap
from pathlib import Path

import pytest

from grader import catalog
from grader.budget import RunBudget
from grader.lanes import Lane, LanePool
from grader.sandbox import Limits, bubblewrap_problem
from grader.worker.protocol import Value

pytestmark = pytest.mark.skipif(
    bubblewrap_problem() is not None, reason=f"no sandbox here: {bubblewrap_problem()}"
)

PROBES = textwrap.dedent(
    """
    import os, sys, signal, subprocess, time

    def pids():
        return sorted(int(p) for p in os.listdir("/proc") if p.isdigit())

    def status():
        lines = open("/proc/self/status").read().splitlines()
        fields = dict(line.split(":\\t", 1) for line in lines)
        return {k: fields[k].strip() for k in ("CapEff", "CapPrm", "CapBnd", "NoNewPrivs")}

    def dumpable():
        import ctypes
        return ctypes.CDLL(None).prctl(3, 0, 0, 0, 0)  # PR_GET_DUMPABLE

    def fds():
        return sorted(int(fd) for fd in os.listdir("/proc/self/fd"))

    def world():
        return {"cwd": os.getcwd(), "cwd_files": os.listdir("."), "path": sys.path,
                "root": sorted(os.listdir("/")), "env": sorted(os.environ), "ppid": os.getppid()}

    def leave(name):
        for folder in ("/tmp", "/dev/shm"):
            with open(f"{folder}/{name}", "w") as f:
                f.write(name)
        return sorted(os.listdir("/tmp")) + sorted(os.listdir("/dev/shm"))

    def listing(path):
        try:
            return sorted(os.listdir(path))
        except OSError as exc:
            return type(exc).__name__

    def write(path):
        try:
            with open(path, "w") as f:
                f.write("x")
        except OSError as exc:
            return type(exc).__name__
        return "written"

    def escape(marker):
        # a grandchild in a session of its own, whose parent dies: an orphan, far from us
        code = "import os, sys, time\\nif os.fork() == 0:\\n    os.setsid(); time.sleep(300)\\n"
        subprocess.Popen([sys.executable, "-c", code, marker], start_new_session=True).wait()
        time.sleep(0.2)
        return pids()

    def signal_everyone():
        hit = []
        for pid in range(2, 4 * 4096):
            try:
                os.kill(pid, signal.SIGSTOP)
                hit.append(pid)
            except OSError:
                pass
        return hit

    def hog(count, mib):
        # each child says when its memory is held; wait until every one has, or has died
        code = f"b = bytearray({mib} * 2**20); print(flush=True); import time; time.sleep(60)"
        procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
                 for _ in range(count)]
        for p in procs:
            p.stdout.readline()  # a line once held, or end of file once killed
        time.sleep(0.5)
        return [p.poll() for p in procs]

    def fill(folder, mib):
        written = 0
        try:
            with open(f"{folder}/fill", "wb") as f:
                for _ in range(mib):
                    f.write(b"x" * 2**20)
                    written += 1
        except OSError:
            pass
        return written

    def bomb(seconds):
        end, born = time.time() + seconds, 0
        while time.time() < end:
            try:
                if os.fork() == 0:
                    time.sleep(seconds)
                    os._exit(0)
                born += 1
            except OSError:
                time.sleep(0.01)
        return born
    """
)


# a venv under /tmp is shown again, read-only, in each run's private /tmp (its top folder)
RUNTIME_IN_TMP = (
    {Path(sys.prefix).relative_to("/tmp").parts[0]} if Path(sys.prefix).is_relative_to("/tmp")
    else set()
)  # fmt: skip


def call(lane: Lane, name: str, *args: object, run: str = "run", seconds: float = 20) -> object:
    task = {"kind": "call", "name": name, "args": list(args), "kwargs": {"__dict__": {}}}
    outcome = lane.run(PROBES, "probes.py", {**task, "forbid": []}, seconds, run=run)
    if not isinstance(outcome.answer, Value):
        return outcome
    return outcome.answer.value


@pytest.fixture(scope="module")
def lanes():
    pool = LanePool(Limits(), lanes=2)
    yield pool.lanes
    pool.close()


@pytest.fixture(scope="module")
def small():
    """A lane whose runs have a small budget, to hit it quickly."""
    budget = RunBudget(
        memory_bytes=768 * 2**20, tasks=64, tmp_bytes=32 * 2**20, shm_bytes=8 * 2**20
    )
    lane = Lane(Limits(budget=budget))
    yield lane
    lane.close()


def test_a_run_sees_and_signals_only_its_own_processes(lanes):
    first, second = lanes
    assert call(first, "pids", run="a") == [1], "a run's first process is 1 in its namespace"
    assert call(first, "world", run="a")["ppid"] == 0, "its parent, the lane, is out of sight"
    assert call(second, "signal_everyone", run="b") == [], "no process outside the run answers"
    assert call(first, "pids", run="a") == [1], "the other lane's run stopped nothing"


def test_nothing_a_run_started_outlives_it(lanes):
    first, _ = lanes
    marker = f"katas-orphan-{os.urandom(4).hex()}"
    assert len(call(first, "escape", marker, run="c")) > 1, "the orphan runs during its run"
    assert call(first, "pids", run="d") == [1], "the next run starts with nothing left"
    host = [p for p in os.listdir("/proc") if p.isdigit()]
    stray = []
    for pid in host:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as f:
            if marker.encode() in f.read():
                stray.append(pid)
    assert stray == [], "the orphan survived its run on the host"


def _left(lane: Lane, name: str, run: str) -> list[str]:
    """What a run sees in /tmp and /dev/shm after leaving `name` in each, less the runtime."""
    return [entry for entry in call(lane, "leave", name, run=run) if entry not in RUNTIME_IN_TMP]


def test_tmp_and_shm_are_private_to_each_run(lanes):
    first, second = lanes
    assert _left(first, "from-e", run="e") == ["from-e", "from-e"]
    assert _left(second, "from-f", run="f") == ["from-f", "from-f"], "a lane's neighbour"
    assert _left(first, "from-g", run="g") == ["from-g", "from-g"], "the lane's next run"


@pytest.mark.skipif(not RUNTIME_IN_TMP, reason="this venv is not under /tmp")
def test_a_venv_under_tmp_is_shown_again_in_each_run(lanes):
    first, _ = lanes
    bin_dir = Path(sys.executable).parent
    shown = call(first, "listing", str(bin_dir), run="e2")
    assert Path(sys.executable).name in shown, f"a run's private /tmp shows the venv ({shown})"
    top = Path("/tmp", *RUNTIME_IN_TMP)
    for path in (bin_dir / "planted", top / "planted"):
        assert call(first, "write", str(path), run="e2") != "written", f"{path} is writable"


def test_a_run_holds_no_privilege_and_cannot_be_traced(lanes):
    first, _ = lanes
    assert call(first, "status", run="h") == {
        "CapEff": "0000000000000000",
        "CapPrm": "0000000000000000",
        "CapBnd": "0000000000000000",
        "NoNewPrivs": "1",
    }
    assert call(first, "dumpable", run="h") == 0, "a run's memory cannot be read through /proc"


def test_a_run_holds_only_its_own_pipes(lanes):
    first, _ = lanes
    held = call(first, "fds", run="i")
    # stdin, stdout and stderr (the run's output pipe), its task and reply pipes, the listing
    assert len(held) == 6 and held[:3] == [0, 1, 2], f"fds beyond the run's own: {held}"
    assert not [name for name in call(first, "world", run="i")["env"] if "KATAS" in name]


def test_nothing_writable_is_on_sys_path_and_the_cwd_is_empty(lanes):
    first, _ = lanes
    world = call(first, "world", run="j")
    assert set(world["cwd_files"]) <= RUNTIME_IN_TMP, "the run starts in an empty working directory"
    assert "" not in world["path"] and world["cwd"] not in world["path"]
    for entry in world["path"]:
        if entry.startswith("/") and not entry.endswith(".zip"):
            assert call(first, "write", f"{entry}/planted.py", run="j") != "written", entry


def test_the_file_system_is_an_allow_list(lanes):
    first, _ = lanes
    world = call(first, "world", run="k")
    # the system's folders, and the top folder of wherever this Python and its packages live
    torch_init = importlib.util.find_spec("torch").origin
    runtime_tops = {
        Path(p).resolve().parts[1]
        for p in (sys.executable, sys.prefix, sys.base_prefix, torch_init)
    }
    system = {"bin", "dev", "etc", "katas", "lib", "lib32", "lib64", "libx32", "proc", "sys",
              "tmp", "usr"}  # fmt: skip
    assert set(world["root"]) <= system | runtime_tops, f"the root shows {world['root']}"
    kata = catalog.find("ex02")
    for secret in (kata.solution_path, kata.checks_path, kata.stub_path):
        assert call(first, "listing", str(secret.parent), run="k") == "FileNotFoundError", secret
    home = Path.home()
    runtime = [Path(p) for p in (sys.base_prefix, sys.prefix) if Path(p).is_relative_to(home)]
    allowed = {p.relative_to(home).parts[0] for p in runtime}  # the runtime's own folders only
    shown = call(first, "listing", str(home), run="k")
    assert shown == "FileNotFoundError" or set(shown) <= allowed, f"the home directory: {shown}"
    for path in ("/proc/sys/kernel/hostname", "/usr/lib/planted", "/katas/grader/planted.py"):
        assert call(first, "write", path, run="k") != "written", path


def _budget_or_skip(lane: Lane) -> None:
    call(lane, "pids", run="probe")
    if "budget per run" not in lane.protections:
        pytest.skip(f"no cgroup budget here: {lane.protections}")


def test_memory_of_all_the_runs_processes_together_is_capped(small):
    _budget_or_skip(small)
    # 1.2 GiB in all, over the 768 MiB budget
    outcome = call(small, "hog", 3, 400, run="m", seconds=60)
    if isinstance(outcome, list):  # the kernel killed one of the three
        assert -9 in outcome, outcome
    else:  # or the run's own process: the judge reads it off the cgroup
        assert outcome.usage is not None and outcome.usage.out_of_memory, outcome


def test_tmpfs_fills_stop_at_their_size(small):
    assert call(small, "fill", "/tmp", 64, run="n") < 33
    assert call(small, "fill", "/dev/shm", 64, run="n") < 9


def test_a_fork_bomb_stops_at_the_task_budget(small):
    _budget_or_skip(small)
    born = call(small, "bomb", 2, run="o", seconds=10)
    assert isinstance(born, int) and born < 64, born
