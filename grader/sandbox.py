"""Starts the worker: bubblewrap with an allow-list file system, and a budget per run.

The judge never imports learner code: it asks the worker, a separate process, to run tasks
and reads back plain data (grader/lanes.py). Under bubblewrap the worker sees, read-only, only
the Python runtime (interpreter, standard library, system libraries), the installed packages
torch and numpy need, and the worker's own code (mounted at /katas): no home directory, no
checkout, no course, no submissions, no grades. It has no network, and a user namespace of
its own in which it may wall each run in (grader/worker/isolation.py). Each lane's runs share
one cgroup budget (grader/budget.py). Without bubblewrap the worker is a plain process with
per-process limits, and every report says so ("unsandboxed").
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from .budget import Cgroups, RunBudget
from .catalog import PACKAGE_DIR

_PR_SET_PDEATHSIG = 1
CLOSE_GRACE_SECONDS = 1.0  # for a closing worker to clean up after itself before it is killed
# putting the worker's memory onto huge pages saves 1.5 to 5 ms a run (its fork and exit) and
# costs the worker 0.1 s, or 1.5 s on a VM whose host backs memory on first touch (each huge
# page is memory never touched before): worth it from a thousand runs (grader/worker/warmup.py)
HUGE_PAGES_FROM = 1000
WORKER_ROOT = "/katas"  # where the sandbox shows grader/__init__.py and grader/worker/
# what the worker's Python imports, besides its standard library
NEEDED_DISTRIBUTIONS = ("torch", "numpy")
# the worker runs this: its own code first on sys.path, then the directories the needed
# packages live in; never the working directory ('' for -c) nor anything writable
BOOTSTRAP = (
    "import sys; sys.path[:] = [{root!r}, *[p for p in sys.path if p], *{sites!r}];"
    " from grader.worker.zygote import main; main()"
)


@dataclass(frozen=True)
class Limits:
    # per check: 50x what the slowest reference needs (40 ms; checks that train carry their
    # own, kit.seconds), and short enough that an infinite loop is news within seconds
    check_seconds: float = 2.0
    run_seconds: float = 120.0
    startup_seconds: float = 60.0
    memory_bytes: int = 4 * 2**30  # per process: torch needs ~2 GiB of address space to start
    budget: RunBudget = field(default_factory=RunBudget)  # per run, all its processes


@cache
def bubblewrap_problem() -> str | None:
    """None when bubblewrap can start a sandbox here, else why not."""
    if os.environ.get("KATAS_SANDBOX") == "none":
        return "disabled by KATAS_SANDBOX=none"
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed"
    probe = subprocess.run(
        [bwrap, "--ro-bind", "/", "/", *_NAMESPACES, "true"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    if probe.returncode != 0:
        return f"bwrap cannot start here: {probe.stderr.strip()[:200]}"
    return None


# a user namespace of its own (where the worker holds the capabilities to wall in each run;
# every run drops them), and no network; the cgroup namespace is shared, so that runs can
# join the judge's cgroups
_NAMESPACES = (
    *("--unshare-user", "--uid", "0", "--gid", "0", "--cap-add", "ALL"),
    *("--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts"),
    *("--die-with-parent", "--new-session"),
)


def _normalize(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


@dataclass(frozen=True)
class _Distribution:
    site: Path
    info: str  # its *.dist-info directory's name

    def requires(self) -> list[str]:
        """The names of what it requires (markers aside: one too many is only shown)."""
        names = []
        with contextlib.suppress(OSError):
            for line in (self.site / self.info / "METADATA").read_text().splitlines():
                if line.startswith("Requires-Dist:") and "extra ==" not in line:
                    names += re.findall(r"^[A-Za-z0-9._-]+", line.split(":", 1)[1].strip())
        return names

    def top_level(self) -> set[str]:
        """The names it installs at the top of its site directory (packages, modules, libs)."""
        names = {self.info}
        with contextlib.suppress(OSError):
            for line in (self.site / self.info / "RECORD").read_text().splitlines():
                first = line.split(",", 1)[0].split("/", 1)[0]
                if first and first != ".." and not first.endswith(".pth"):
                    names.add(first)
        return names


def _distributions(sites: list[Path]) -> dict[str, _Distribution]:
    """Every installed distribution in `sites`, by normalized name (the first site wins)."""
    found: dict[str, _Distribution] = {}
    for site in sites:
        with contextlib.suppress(OSError):
            for entry in os.listdir(site):
                if entry.endswith(".dist-info"):
                    found.setdefault(_normalize(entry.split("-")[0]), _Distribution(site, entry))
    return found


def _needed(sites: list[Path]) -> list[_Distribution]:
    """The needed distributions and everything they require, installed."""
    installed = _distributions(sites)
    todo, seen = [_normalize(n) for n in NEEDED_DISTRIBUTIONS], set()
    while todo:
        name = todo.pop()
        if name in seen or name not in installed:
            continue
        seen.add(name)
        todo += [_normalize(n) for n in installed[name].requires()]
    return [installed[name] for name in sorted(seen)]


def _bind(path: Path | str) -> list[str]:
    return ["--ro-bind", str(path), str(path)]


@dataclass(frozen=True)
class AllowList:
    """What the worker may see: bwrap's arguments for it, the site directories it imports
    from, and the paths it shows under /tmp (a run's private /tmp shows them again)."""

    args: tuple[str, ...]
    sites: tuple[str, ...]
    under_tmp: tuple[str, ...]


@cache
def allow_list() -> AllowList:
    """What the worker may see, read-only.

    Site directories under a directory shown whole (the standard library's site-packages, the
    system's dist-packages) are masked by an empty read-only tmpfs first, and only the needed
    packages are shown in them.
    """
    # the worker's own /tmp first (torch's import asks for one; each run mounts a private one
    # on it): whatever the list shows from under /tmp (a venv there) goes on top
    args: list[str] = ["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    shown: list[Path] = []
    for name in ("usr/lib", "usr/lib64", "usr/lib32", "usr/libx32"):
        path = Path("/", name)
        if path.is_dir() and not path.is_symlink():
            args += _bind(path)
            shown.append(path)
    for name in ("lib", "lib64", "lib32", "libx32", "bin"):
        path = Path("/", name)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir() and name != "bin":
            args += _bind(path)
            shown.append(path)
    executable = Path(sys.executable)
    args += _bind(executable)
    for config in (executable.parent / "pyvenv.cfg", executable.parent.parent / "pyvenv.cfg"):
        if config.is_file():
            args += _bind(config)
    stdlib = Path(os.__file__).parent
    args += _bind(stdlib)
    shown.append(stdlib)
    dynload = sysconfig.get_config_var("DESTSHARED")
    if dynload and Path(dynload).is_dir() and not Path(dynload).is_relative_to(stdlib):
        args += _bind(dynload)
    if sysconfig.get_config_var("Py_ENABLE_SHARED"):
        libdir = Path(sysconfig.get_config_var("LIBDIR") or "/nonexistent")
        for library in libdir.glob(f"{sysconfig.get_config_var('LDLIBRARY')}*"):
            args += _bind(library)
    # malloc reads transparent_hugepage/ to decide on huge pages (see GLIBC_TUNABLES)
    system = ("/sys/devices/system/cpu", "/sys/kernel/mm/transparent_hugepage")
    for path in ("/etc/ld.so.cache", "/etc/localtime", *system):
        if os.path.exists(path):
            args += _bind(path)

    sites = [Path(p) for p in sys.path if p and Path(p).is_dir() and Path(p).name.endswith(
        ("site-packages", "dist-packages"))]  # fmt: skip
    for root in shown:
        sites += [s for s in root.glob("python3*/*-packages") if s not in sites]
        sites += [s for s in root.glob("*-packages") if s not in sites]
    masked = [s for s in sites if any(s.is_relative_to(root) for root in shown)]
    for site in masked:
        args += ["--tmpfs", str(site)]
    needed = _needed(sites)
    for dist in needed:
        for name in sorted(dist.top_level()):
            if (dist.site / name).exists():
                args += _bind(dist.site / name)
    worker = f"{WORKER_ROOT}/grader"
    args += ["--ro-bind", str(PACKAGE_DIR / "__init__.py"), f"{worker}/__init__.py"]
    args += ["--ro-bind", str(PACKAGE_DIR / "worker"), f"{worker}/worker"]
    for path in ("/", "/dev", *map(str, masked)):  # nothing a run could write for the next
        args += ["--remount-ro", path]
    # a run shows the top folder of these again, whole and read-only: the folders bwrap made
    # to hold them are the worker's /tmp, which a run must not write to either
    shown_in_tmp = sorted(
        {
            "/tmp/" + Path(args[i + 2]).relative_to("/tmp").parts[0]
            for i, arg in enumerate(args)
            if arg == "--ro-bind" and _under_tmp(args[i + 2])
        }
    )
    sites = tuple(sorted({str(dist.site) for dist in needed}))
    return AllowList(tuple(args), sites, tuple(shown_in_tmp))


def _under_tmp(path: str) -> bool:
    return Path(path).is_relative_to("/tmp")


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass(frozen=True)
class Link:
    """The judge's ends of one lane: jobs go out on `commands`, messages come back."""

    commands: int
    replies: int

    def close(self) -> None:
        for fd in (self.commands, self.replies):
            with contextlib.suppress(OSError):
                os.close(fd)


class WorkerProcess:
    """One started worker process (sandboxed when it can be) serving one or more lanes.

    Every lane gets its own serving loop in the worker, forked after torch (and `preload`)
    were imported once, so several grading processes share that cost.
    """

    def __init__(
        self,
        limits: Limits,
        lanes: int = 1,
        preload: tuple[str, ...] = (),
        light_lanes: int = 0,
        runs: int = 1,
    ) -> None:
        """`light_lanes`: how many of the lanes (the first ones) are forked before `preload`
        is imported, for runs that need none of it. `runs`: about how many grading runs the
        worker will serve (from HUGE_PAGES_FROM on, its memory goes onto huge pages first)."""
        problem = bubblewrap_problem()
        self.sandboxed = problem is None
        cgroups = Cgroups.create(limits.budget, lanes)
        self.cgroups = cgroups if isinstance(cgroups, Cgroups) else None
        self.limits_held = (
            f"budget per run ({self.cgroups.kind}): {limits.budget.describe()}, /tmp "
            f"{limits.budget.tmp_bytes // 2**20} MiB"
            if self.cgroups
            else f"limits: per process only ({cgroups})"
        )
        self.sandbox = "bubblewrap" if self.sandboxed else f"unsandboxed ({problem})"
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        theirs, self.links = [], []
        for index in range(lanes):
            commands_r, commands_w = os.pipe()
            replies_r, replies_w = os.pipe()
            os.set_blocking(commands_w, False)
            os.set_blocking(replies_r, False)
            budget = self.cgroups.lanes[index].open_procs() if self.cgroups else []
            theirs.append([commands_r, replies_w, budget])
            self.links.append(Link(commands_w, replies_r))
        config = {
            "lanes": theirs,
            "light": light_lanes,
            "preload": list(preload),
            "huge_pages": runs >= HUGE_PAGES_FROM,
            "memory_bytes": limits.memory_bytes,
            "tmp_bytes": limits.budget.tmp_bytes,
            "shm_bytes": limits.budget.shm_bytes,
            "isolate": self.sandboxed,
            "keep_in_tmp": [],
        }
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": "/tmp",
            "USER": "learner",
            "LANG": "C.UTF-8",
            "PYTHONHASHSEED": "0",  # the same submission behaves the same on every run
            "OMP_NUM_THREADS": "1",
            # malloc's heap on huge pages: forking a run from the warm worker copies a few
            # hundred page-table entries instead of some 50,000 (4 ms instead of 16 here)
            "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1",
        }
        if self.sandboxed:
            visible = allow_list()
            config["keep_in_tmp"] = list(visible.under_tmp)
            command = ["bwrap", *_NAMESPACES, *visible.args, "--chdir", "/"]
            boot = BOOTSTRAP.format(root=WORKER_ROOT, sites=list(visible.sites))
            cwd = None
        else:
            self._scratch = tempfile.TemporaryDirectory(prefix="katas-worker-")
            command, cwd = [], self._scratch.name
            boot = BOOTSTRAP.format(root=str(PACKAGE_DIR.parent), sites=[])
            env["TMPDIR"] = env["HOME"] = self._scratch.name
        env["KATAS_WORKER"] = json.dumps(config)  # complete now; read once, then gone
        fds = [fd for commands, replies, budget in theirs for fd in (commands, replies, *budget)]
        self.proc = subprocess.Popen(
            [*command, sys.executable, "-s", "-B", "-c", boot],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            pass_fds=fds,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        for fd in fds:
            os.close(fd)

    def describe(self, isolation_problem: str) -> str:
        """What holds for the runs, for every report (isolation as the lane found it)."""
        if not self.sandboxed:
            return f"{self.sandbox}; {self.limits_held}"
        isolated = (
            "each run isolated"
            if not isolation_problem
            else f"runs NOT isolated from each other ({isolation_problem})"
        )
        return f"bubblewrap; {isolated}; {self.limits_held}"

    def close(self) -> None:
        """End the worker and everything it started.

        Closing the lanes lets each serving loop kill its run process itself; the process
        group is killed after a moment.
        """
        for link in self.links:
            link.close()
        self.links = []
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(CLOSE_GRACE_SECONDS)
        with contextlib.suppress(OSError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        if self.cgroups is not None:
            self.cgroups.close()
            self.cgroups = None
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None
