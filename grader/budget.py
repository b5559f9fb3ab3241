"""A budget for a whole grading run: one cgroup per lane, which every run on that lane joins.

The judge makes the cgroups (it may write to the cgroup file system; the sandbox sees none of
it) and hands each lane an open `cgroup.procs` per hierarchy. A run's first process writes
itself into them before any learner code runs, so everything the run starts, processes and
threads, counts against one memory and one task limit, and nothing in the run can leave.
Runs on a lane follow one another and a run's processes are all dead before the next one
starts, so the lane's cgroup is empty in between. The judge reads the cgroup's counters to
explain a run that died (out of memory, out of tasks): facts no learner code can forge.

Where the machine offers no writable cgroup, limits hold per process only (the worker's
rlimits), and `describe()` says so in every report.

cgroup v1 (memory and pids hierarchies, as on this project's CI machines) and cgroup v2 (one
hierarchy, beside the judge's own cgroup where it may write: as root, or under a delegated
systemd user scope such as `systemd-run --user --scope -p Delegate=yes grade ...`) are both
understood; only v1 could be tried on the machines this was built on.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

V1_CONTROLLERS = ("memory", "pids")


def _mib(n: int) -> str:
    return f"{n / 2**30:g} GiB" if n >= 2**30 else f"{n // 2**20} MiB"


@dataclass(frozen=True)
class RunBudget:
    """What one grading run may use, all its processes together."""

    memory_bytes: int = 3 * 2**30  # torch's own pages are the worker's; this is what a run adds
    tasks: int = 256  # processes and threads
    tmp_bytes: int = 256 * 2**20  # the run's private /tmp
    shm_bytes: int = 64 * 2**20  # the run's private /dev/shm

    def describe(self) -> str:
        return f"{_mib(self.memory_bytes)}, {self.tasks} tasks"


@dataclass(frozen=True)
class RunUsage:
    """What the judge read off a lane's cgroup after a run's task."""

    out_of_memory: bool = False
    out_of_tasks: bool = False


def _mounts() -> list[tuple[str, str, str]]:
    """(mount point, file system type, super options) of every cgroup mount."""
    found = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            fields = line.split()
            dash = fields.index("-")
            if fields[dash + 1] in ("cgroup", "cgroup2") and fields[3] == "/":
                found.append((fields[4], fields[dash + 1], fields[dash + 3]))
    return found


def _own_cgroups() -> dict[str, str]:
    """Our cgroup path per v1 controller, and "" -> the v2 path."""
    paths = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                paths[name] = path
    return paths


def _write(path: Path, value: str) -> None:
    path.write_text(value)


class LaneCgroups:
    """The cgroup directories of one lane (one per v1 hierarchy, or one v2 directory)."""

    def __init__(self, version: int, dirs: list[Path]) -> None:
        self.version = version
        self.dirs = dirs
        self._seen = self._counters()

    def open_procs(self) -> list[int]:
        """Write ends of cgroup.procs for the lane's runs to join (the worker inherits them)."""
        return [os.open(d / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC) for d in self.dirs]

    def _read(self, name: str) -> str:
        for d in self.dirs:
            with contextlib.suppress(OSError):
                return (d / name).read_text()
        return ""

    def _counters(self) -> tuple[int, int]:
        """(OOM kills, refused forks) so far."""
        if self.version == 1:
            oom = self._field(self._read("memory.oom_control"), "oom_kill")
            return oom, self._field(self._read("pids.events"), "max")
        events = self._read("memory.events")
        return self._field(events, "oom_kill"), self._field(self._read("pids.events"), "max")

    @staticmethod
    def _field(text: str, key: str) -> int:
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name == key and value.strip().isdigit():
                return int(value)
        return 0

    def mark(self) -> None:
        """Count from here: a run starts."""
        self._seen = self._counters()

    def usage(self) -> RunUsage:
        """Whether the run went over its budget since it started (a kill or a refused fork)."""
        oom, forks = self._counters()
        return RunUsage(out_of_memory=oom > self._seen[0], out_of_tasks=forks > self._seen[1])


class Cgroups:
    """A group of lane cgroups made for one worker process, removed with it."""

    def __init__(self, version: int, groups: list[Path], lanes: list[LaneCgroups]) -> None:
        self.version = version
        self.groups = groups  # the parent directory per hierarchy
        self.lanes = lanes

    @property
    def kind(self) -> str:
        return f"cgroup v{self.version}"

    @classmethod
    def create(cls, budget: RunBudget, lanes: int) -> Cgroups | str:
        """Cgroups for `lanes` lanes, or why there can be none here."""
        mounts = _mounts()
        own = _own_cgroups()
        v1 = {m: p for p, kind, opts in mounts if kind == "cgroup" for m in opts.split(",")}
        if all(c in v1 for c in V1_CONTROLLERS):
            bases = [Path(v1[c]) / own.get(c, "/").lstrip("/") for c in V1_CONTROLLERS]
            return cls._make(1, bases, budget, lanes)
        v2 = [p for p, kind, _ in mounts if kind == "cgroup2"]
        if v2 and "" in own:
            return cls._make(2, [Path(v2[0]) / own[""].lstrip("/")], budget, lanes)
        return "no cgroup hierarchy with memory and pids controllers"

    @classmethod
    def _make(cls, version: int, bases: list[Path], budget: RunBudget, lanes: int) -> Cgroups | str:
        name = f"katas-{os.getpid()}-{secrets.token_hex(3)}"
        made: list[Path] = []  # to remove again, children after their parents
        try:
            if version == 2:
                bases = [_v2_parent(bases[0])]
            groups = []
            for base in bases:
                _remove_stale(base)
                (base / name).mkdir()
                made.append(base / name)
                groups.append(base / name)
            if version == 2:
                _write(groups[0] / "cgroup.subtree_control", "+memory +pids")
            lane_cgroups = []
            for index in range(lanes):
                dirs = [group / f"lane-{index}" for group in groups]
                for lane in dirs:
                    lane.mkdir()
                    made.append(lane)
                _limit(version, dirs, budget)
                lane_cgroups.append(LaneCgroups(version, dirs))
        except OSError as exc:
            for path in reversed(made):
                with contextlib.suppress(OSError):
                    path.rmdir()
            return f"cannot make cgroups under {bases[0]} ({exc.strerror or exc})"
        return cls(version, groups, lane_cgroups)

    def close(self) -> None:
        """Remove the directories, once the last of their processes has gone."""
        left = [d for lane in self.lanes for d in lane.dirs] + self.groups
        for _ in range(50):  # a killed sandbox takes a moment to be reaped
            for path in list(left):
                try:
                    path.rmdir()
                except FileNotFoundError:
                    pass
                except OSError:  # still busy
                    continue
                left.remove(path)
            if not left:
                return
            time.sleep(0.02)


def _v2_parent(own: Path) -> Path:
    """Where a v2 group may go: beside our own cgroup, whose parent must allow the controllers.

    A cgroup with processes cannot give controllers to children ("no internal processes"), so
    the group is a sibling of ours, in a parent we may write: as root, any; as a user, one in
    a subtree systemd delegated to us (the scope that `systemd-run --user --scope -p
    Delegate=yes grade ...` runs in has such a parent).
    """
    parent = own.parent
    controllers = (parent / "cgroup.subtree_control").read_text().split()
    missing = [c for c in V1_CONTROLLERS if c not in controllers]
    if missing:
        raise OSError(0, f"the {' and '.join(missing)} controller is not enabled in {parent}")
    return parent


def _limit(version: int, dirs: list[Path], budget: RunBudget) -> None:
    if version == 1:
        memory, pids = dirs
        _write(memory / "memory.limit_in_bytes", str(budget.memory_bytes))
        with contextlib.suppress(OSError):  # only where swap is accounted
            _write(memory / "memory.memsw.limit_in_bytes", str(budget.memory_bytes))
        with contextlib.suppress(OSError):
            _write(memory / "memory.swappiness", "0")
        _write(pids / "pids.max", str(budget.tasks))
        return
    (group,) = dirs
    _write(group / "memory.max", str(budget.memory_bytes))
    with contextlib.suppress(OSError):
        _write(group / "memory.swap.max", "0")
    _write(group / "pids.max", str(budget.tasks))


def _remove_stale(base: Path) -> None:
    """Groups left by a judge that was killed: empty, and their pid is gone."""
    for group in base.glob("katas-*-*"):
        pid = group.name.split("-")[1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            for lane in group.glob("lane-*"):
                with contextlib.suppress(OSError):
                    lane.rmdir()
            with contextlib.suppress(OSError):
                group.rmdir()
