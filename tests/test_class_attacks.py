"""One hostile student in a class graded by `grade batch` and by `nbgrader autograde`.

Each attack is a submission of ours, written as a student who wants to change classmates'
scores, read their code, kill or stall their grading, find a reference on disk, or take the
machine down. The class is graded once without the attacker (the control) and once with it,
with the same seed: the classmates' scores must be identical, no classmate's secret may reach
any grade document but their own, and the host's memory and process count must stay within
one run's budget while it runs.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader import catalog
from grader.sandbox import bubblewrap_problem

from .conftest import run_grade, with_override
from .variants.ex02_fix_broadcasting import WRONG

pytestmark = [
    pytest.mark.xdist_group("class-attacks"),  # one at a time: the host is measured
    pytest.mark.skipif(bubblewrap_problem() is not None, reason="no sandbox here"),
]

SEED = 7719
KATA = catalog.find("ex02")
SECOND = catalog.find("ex03")  # the attacker's next run, which tries to show what it stole
ATTACKER = "aaa-mallory"  # graded first: its runs overlap its classmates'
GIB = 2**30

HONEST = {
    "ada": KATA.solution_path.read_text(),
    "bo": KATA.stub_text(),
    "cy": with_override("ex02", next(iter(WRONG.values()))),
    # a module the worker has not imported yet: looked up on sys.path when dee's file loads
    "dee": "import statistics\n" + KATA.solution_path.read_text(),
}

PRELUDE = """
import os, re, signal, subprocess, sys, time

def _in_background(body, seconds=15.0):
    # over and over, in a process that left its session and killed whoever would reap it
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            time.sleep(0.05)
            try:
                os.kill(os.getppid(), signal.SIGKILL)  # the grader's process that adopted us
            except OSError:
                pass
            end = time.time() + seconds
            while time.time() < end:
                try:
                    body()
                except Exception:
                    pass
                time.sleep(0.02)
        os._exit(0)
    os.wait()

def _others():
    me = os.getpid()
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (me, 1)]

def _regions(pid, perms):
    with open(f"/proc/{pid}/maps") as maps:
        for line in maps:
            span, mode = line.split()[:2]
            if mode.startswith(perms):
                start, end = (int(x, 16) for x in span.split("-"))
                yield start, end
"""

# the attacker's functions run for a while, so that its processes overlap its classmates' runs
SLOW = """
def center_rows(x):
    time.sleep(1.2)
    return x - x.mean(dim=1, keepdim=True)
"""

ATTACKS = {
    "writes_other_processes_memory": """
def _scribble():
    for pid in _others():
        with open(f"/proc/{pid}/mem", "r+b", buffering=0) as mem:
            for start, end in list(_regions(pid, "rw"))[:50]:
                mem.seek(start)
                mem.write(b"\\0" * min(4096, end - start))
_in_background(_scribble)
""",
    "plants_modules": """
for folder in ("/tmp", os.getcwd(), os.path.expanduser("~"), "/dev/shm", "/var/tmp"):
    for name in ("secrets", "statistics", "fractions", "decimal"):
        try:
            with open(os.path.join(folder, name + ".py"), "w") as f:
                f.write("raise SystemExit('planted by a classmate')\\n")
        except OSError:
            pass
""",
    "kills_its_parent_then_everyone": """
try:
    os.kill(os.getppid(), signal.SIGKILL)
except OSError:
    pass
def _kill():
    for pid in _others():
        os.kill(pid, signal.SIGKILL)
_in_background(_kill)
""",
    "stops_everyone": """
def _stop():
    for pid in _others():
        os.kill(pid, signal.SIGSTOP)
_in_background(_stop)
""",
    "reads_other_runs": """
_SECRET = rb"secret-[a-z]+-[0-9a-f]{8}"

def _keep(loot):
    found = b" ".join(sorted(set(re.findall(_SECRET, loot))))
    for folder in ("/tmp", "/dev/shm", "/var/tmp"):
        try:
            with open(os.path.join(folder, "loot"), "ab") as f:
                f.write(found + b" ")
        except OSError:
            pass

def _steal():
    loot = b""
    for folder in ("/tmp", "/dev/shm", "/var/tmp"):  # the files other runs leave
        for name in os.listdir(folder):
            try:
                with open(os.path.join(folder, name), "rb") as f:
                    loot += f.read(2**16)
            except OSError:
                pass
    _keep(loot)
    end = time.time() + 1.0
    for pid in _others():  # and their memory: the heap holds their code's strings
        for name in ("cmdline", "environ"):
            with open(f"/proc/{pid}/{name}", "rb") as f:
                loot += f.read()
        with open(f"/proc/{pid}/maps") as maps:
            heaps = [line.split()[0] for line in maps if "[heap]" in line]
        with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
            for span in heaps:
                start, stop = (int(x, 16) for x in span.split("-"))
                mem.seek(start)
                loot += mem.read(min(stop - start, 64 * 2**20))
        _keep(loot)
        if time.time() > end:
            break
_in_background(_steal)

def batch_matvec(m, v):  # shows the loot in this run's own feedback, too
    for _ in range(15):
        try:
            raise ValueError("loot: " + open("/tmp/loot").read())
        except FileNotFoundError:
            time.sleep(0.1)
    return v @ m.T
""",
    "finds_a_reference_on_disk": """
import glob

def _works(ns):
    import torch
    try:
        x = torch.randn(3, 5)
        return bool(torch.allclose(ns["center_rows"](x).mean(1), torch.zeros(3), atol=1e-5))
    except Exception:
        return False

for _top in (os.path.expanduser("~"), "/var/tmp", "/home/*", "/work", "/opt", "/srv", "/tmp"):
    for _depth in range(4):
        _pattern = os.path.join(_top, *["*"] * _depth, "solutions", "*fix_broadcasting.py")
        for _path in glob.glob(_pattern) + glob.glob(os.path.join(_top, ".*", "*", "solutions",
                                                                    "*fix_broadcasting.py")):
            _ns = {}
            try:
                exec(open(_path).read(), _ns)
            except Exception:
                continue
            if _works(_ns):
                globals().update({k: v for k, v in _ns.items() if not k.startswith("_")})
""",
    "holds_3_processes_of_3_gib": """
_hog = "b = bytearray(3 * 2**30)\\nimport time\\ntime.sleep(20)"
_procs = [subprocess.Popen([sys.executable, "-c", _hog]) for _ in range(3)]
time.sleep(4)
""",
    "fills_tmp_and_shm_with_4_gib_each": """
for _folder in ("/tmp", "/dev/shm"):
    try:
        with open(os.path.join(_folder, "fill"), "wb") as _f:
            for _ in range(4096):
                _f.write(b"x" * 2**20)
    except OSError:
        pass
""",
    "forks_a_bomb": """
def _bomb():
    while True:
        try:
            os.fork()
        except OSError:
            time.sleep(0.01)
_in_background(_bomb, seconds=6)
time.sleep(1)
""",
}

# what stealing would print: the attacker's next run shows whatever loot it finds
SHOW_LOOT = """
import os, time

def _loot():
    found = ""
    for folder in ("/tmp", "/dev/shm", "/var/tmp"):
        try:
            found += open(os.path.join(folder, "loot")).read()
        except OSError:
            pass
    return found

def _waited_loot():
    for _ in range(15):  # the thief may still be at work in the run before this one
        if _loot().strip():
            break
        time.sleep(0.1)
    return _loot()

def nll_loss(log_probs, targets, reduction="mean"):
    raise ValueError("loot: " + _waited_loot())

cross_entropy = nll_loss
"""


def _secret(student: str) -> str:
    return f"secret-{student}-{uuid.uuid4().hex[:8]}"


def _honest_file(student: str, code: str, secret: str) -> str:
    keep = f'\nSECRET = "{secret}"\nopen("/tmp/{student}.txt", "w").write(SECRET)\n'
    return code + keep


def _write_class(root: Path, attack: str | None) -> dict[str, str]:
    secrets = {student: _secret(student) for student in HONEST}
    for student, code in HONEST.items():
        (root / student).mkdir(parents=True)
        path = root / student / f"{KATA.name}.py"
        path.write_text(_honest_file(student, code, secrets[student]))
    if attack is not None:
        (root / ATTACKER).mkdir()
        hostile = PRELUDE + KATA.stub_text() + ATTACKS[attack]
        if attack != "finds_a_reference_on_disk":  # that one must score as the stub does
            hostile += SLOW
        (root / ATTACKER / f"{KATA.name}.py").write_text(hostile)
        (root / ATTACKER / f"{SECOND.name}.py").write_text(SECOND.stub_text())
        if attack == "reads_other_runs":
            shown = SECOND.stub_text() + SHOW_LOOT
            (root / ATTACKER / f"{SECOND.name}.py").write_text(shown)
    return secrets


class HostWatch:
    """The host's process count and available memory, sampled while a batch runs."""

    def __init__(self) -> None:
        self.processes: list[int] = []
        self.available: list[int] = []
        self._stop = threading.Event()

    @staticmethod
    def _available() -> int:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
        return 0

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.processes.append(sum(p.name.isdigit() for p in Path("/proc").iterdir()))
            self.available.append(self._available())

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        self.baseline = (
            sum(p.name.isdigit() for p in Path("/proc").iterdir()),
            self._available(),
        )
        thread = threading.Thread(target=self._sample, daemon=True)
        thread.start()
        try:
            yield
        finally:
            self._stop.set()
            thread.join()

    @property
    def extra_processes(self) -> int:
        return max(self.processes, default=0) - self.baseline[0]

    @property
    def memory_used(self) -> int:
        return self.baseline[1] - min(self.available, default=self.baseline[1])


def _grade_class(root: Path) -> tuple[Path, HostWatch]:
    out = root.parent / f"{root.name}-grades"
    watch = HostWatch()
    with watch.watching():
        done = run_grade("batch", str(root), "--out", str(out), "--seed", str(SEED), timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    return out, watch


def _scores(out: Path, student: str) -> dict[str, list[tuple[str, float]]]:
    docs = json.loads((out / f"{student}.json").read_text())
    return {d["extra_data"]["kata"]: [(t["name"], t["score"]) for t in d["tests"]] for d in docs}


@pytest.fixture(scope="module")
def control(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    root = tmp_path_factory.mktemp("control")
    _write_class(root, attack=None)
    out, _ = _grade_class(root)
    return {student: _scores(out, student) for student in HONEST}


@pytest.fixture
def planted_references(tmp_path: Path) -> Iterator[list[Path]]:
    """Copies of the reference where a deny-list sandbox would show them: a folder in the
    home directory and a second checkout elsewhere on the disk."""
    token = uuid.uuid4().hex[:8]
    folders = [Path.home() / f".katas-attack-{token}", Path("/var/tmp") / f"katas-attack-{token}"]
    copies = []
    for folder in folders:
        copy = folder / "checkout" / "solutions" / KATA.solution_path.name
        copy.parent.mkdir(parents=True)
        shutil.copy(KATA.solution_path, copy)
        copies.append(copy)
    yield copies
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_one_hostile_student_changes_nothing_for_the_class(
    attack: str, control: dict, tmp_path: Path, planted_references: list[Path]
) -> None:
    root = tmp_path / "class"
    secrets = _write_class(root, attack)
    out, watch = _grade_class(root)

    for student in HONEST:
        assert _scores(out, student) == control[student], f"{attack} changed {student}'s grades"
    attacker = (out / f"{ATTACKER}.json").read_text()
    for student, secret in secrets.items():
        assert secret not in attacker, f"{attack}: {student}'s secret reached the attacker"
        for other in HONEST:
            if other != student:
                text = (out / f"{other}.json").read_text()
                assert secret not in text, f"{attack}: {student}'s secret reached {other}"
    if attack == "finds_a_reference_on_disk":
        stub = _scores(out, "bo")[KATA.name]
        assert _scores(out, ATTACKER)[KATA.name] == stub, "a reference on disk was found"

    # one run's budget (3 GiB, 256 tasks), plus the batch's own processes and what the other
    # test process of this session runs meanwhile; unbounded, these attacks take 9 GiB or
    # thousands of processes
    assert watch.memory_used < 6 * GIB, f"{attack}: {watch.memory_used / GIB:.1f} GiB in use"
    assert watch.extra_processes < 256 + 150, f"{attack}: {watch.extra_processes} processes"


# -- the same through nbgrader autograde ----------------------------------------------------

EVERY_ATTACK = "".join(
    ATTACKS[name]
    for name in (
        "plants_modules",
        "writes_other_processes_memory",
        "reads_other_runs",
        "kills_its_parent_then_everyone",
    )
)


def _course(root: Path, with_attacker: bool) -> dict[str, float]:
    """A course of ex02 autograded by nbgrader; each student's score from the gradebook."""
    from nbgrader.api import Gradebook

    from .test_nbgrader import nbgrader, submit

    built = run_grade("nbgrader", "build", str(root), "--katas", "ex02")
    assert built.returncode == 0, built.stderr
    nbgrader(root, "generate_assignment", "katas")
    work = {s: _honest_file(s, code, _secret(s)) for s, code in HONEST.items()}
    if with_attacker:
        work[ATTACKER] = PRELUDE + KATA.stub_text() + EVERY_ATTACK + SLOW
    for student, code in work.items():
        nbgrader(root, "db", "student", "add", student)
        submit(root, KATA, student, code)
    nbgrader(root, "autograde", "katas", f"--JudgeSolutions.seed={SEED}")
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        return {s: gb.find_submission_notebook(KATA.name, "katas", s).score for s in HONEST}


def test_one_hostile_notebook_changes_nothing_for_the_class(tmp_path: Path) -> None:
    pytest.importorskip("nbgrader")
    control = _course(tmp_path / "control", with_attacker=False)
    attacked = _course(tmp_path / "attacked", with_attacker=True)
    assert attacked == control, "a hostile notebook changed its classmates' autograded scores"
