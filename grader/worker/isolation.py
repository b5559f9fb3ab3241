"""Makes each grading run its own isolation domain, right after the lane forks it.

A lane forks one run process per grading run from a process that has already imported torch
(milliseconds), and that process then walls itself in before any learner code runs:

- a pid namespace of its own, whose first process it is: the run sees and can signal only its
  own processes, and when the run process is killed the kernel kills everything in it, even
  processes that left their session or killed their parent;
- its own mount, network, IPC and UTS namespaces, with a private, size-capped /tmp and
  /dev/shm and a /proc that shows only the run's processes (with /proc/sys read-only);
- the lane's cgroups (grader/budget.py), which the lane joined once and the run is born in, so
  that a memory and a task budget hold for the whole run, all its processes together (and
  the run's own processes, not the lane, are the ones the kernel kills when it is full);
- no capabilities (bounding set and ambient set emptied, root's exec privileges locked off),
  no_new_privs, and not dumpable; then a last user and mount namespace that locks every mount
  as it is, so even a capability regained by some bug could not make a mount writable.

This needs the sandbox's capabilities (bubblewrap gives the worker a user namespace of its own
in which it has them). `probe()` tries the whole sequence once at start-up; when it fails, the
worker says why and every report shows it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
from dataclasses import dataclass
from pathlib import Path

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_CHILD_SUBREAPER = 1, 4, 24, 36
PR_SET_SECUREBITS, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 28, 38, 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
# noroot, no setuid fixup, keep_caps off and no ambient raise, each one locked
SECUREBITS_LOCKED = 0x01 | 0x02 | 0x04 | 0x08 | 0x10 | 0x20 | 0x40 | 0x80
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
# paths of /proc that a root without capabilities could still write to (bubblewrap covers the
# same ones in its own /proc)
PROC_READ_ONLY = ("sys", "sysrq-trigger", "irq", "bus")

_libc = ctypes.CDLL(None, use_errno=True)


class IsolationError(OSError):
    """A step of walling a run in failed: the run must not go on as if it had worked."""


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise IsolationError(errno, f"{what}: {os.strerror(errno)}")


def prctl(option: int, value: int, *args: int) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(value), *map(ctypes.c_ulong, args)), "prctl")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    result = _libc.mount(
        source.encode(), target.encode(), fstype.encode() if fstype else None, flags,
        data.encode() or None,
    )  # fmt: skip
    _check(result, f"mount {target}")


@dataclass(frozen=True)
class Walls:
    """What a lane's runs are walled in by: the budget's cgroup.procs fds and tmpfs sizes."""

    cgroup_procs: tuple[int, ...]  # write ends of the lane's cgroup.procs, one per hierarchy
    tmp_bytes: int
    shm_bytes: int
    namespaces: bool  # False where probe() failed (or outside a sandbox)
    keep_in_tmp: tuple[str, ...] = ()  # what the sandbox shows under /tmp (a venv there)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint32) for name in ("effective", "permitted", "inheritable")]


def fork_run(walls: Walls, pid_namespace: int) -> int:
    """os.fork(), the child the first process of a fresh pid namespace when walls allow it.

    `pid_namespace`: an fd of the lane's own pid namespace, to which its later children go
    back (unshare decides only where the *next* child is born).
    """
    if not walls.namespaces:
        return os.fork()
    _check(_libc.unshare(CLONE_NEWPID), "unshare(pid)")
    try:
        pid = os.fork()
    except OSError:
        pid = -1
        raise
    finally:
        if pid != 0:  # the lane: its next child is born in the lane's own namespace again
            _check(_libc.setns(pid_namespace, CLONE_NEWPID), "setns(pid)")
    return pid


def join_budget(walls: Walls) -> None:
    """The lane joins its cgroups, once: every run it forks is born in them.

    Moving a process between cgroups waits for the kernel's RCU (tens of milliseconds on
    cgroup v1); a run forked inside them pays nothing, and cannot leave.
    """
    for fd in walls.cgroup_procs:
        os.write(fd, b"0")


def enter(walls: Walls, keep: tuple[int, ...]) -> None:
    """In the run process, before any learner code: the run's own world, and nothing more.

    `keep`: the run's own pipe ends; every other fd is closed.
    """
    # of the processes in the lane's cgroup, the run's are the ones to kill when it is full
    with contextlib.suppress(OSError):
        Path("/proc/self/oom_score_adj").write_text("1000")
    if walls.namespaces:
        _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS), "unshare")
        _mount("none", "/", None, MS_REC | MS_PRIVATE)
        below = [(path, os.open(path, os.O_PATH)) for path in walls.keep_in_tmp]
        tmpfs = MS_NOSUID | MS_NODEV
        _mount("tmpfs", "/tmp", "tmpfs", tmpfs, f"size={walls.tmp_bytes},mode=1777")
        for path, fd in below:  # what the run needs from under /tmp, shown again, read-only
            _show_again(path, fd)
        _mount("tmpfs", "/dev/shm", "tmpfs", tmpfs, f"size={walls.shm_bytes},mode=1777")
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        for name in PROC_READ_ONLY:
            path = f"/proc/{name}"
            if os.path.exists(path):
                _mount(path, path, None, MS_BIND | MS_REC)
                _mount(path, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID)
        os.chdir("/tmp")  # the run's own, empty
    _close_all_but(keep)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if walls.namespaces:
        _drop_privileges()


def _show_again(path: str, fd: int) -> None:
    """Bind what `fd` (opened before /tmp was covered) points at onto `path` again."""
    if os.path.isdir(f"/proc/self/fd/{fd}"):
        os.makedirs(path, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Path(path).touch()  # a mount point for a file
    _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
    _mount(path, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID)
    os.close(fd)


def _close_all_but(keep: tuple[int, ...]) -> None:
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, resource.getrlimit(resource.RLIMIT_NOFILE)[0])


def _lock_mounts() -> None:
    """A user and mount namespace of our own: the mounts copied into it are locked as they are
    (read-only stays read-only, and nothing can be unmounted to show what lies beneath)."""
    uid, gid = os.getuid(), os.getgid()
    _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNS), "unshare(user, mount)")
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
    Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")


def _drop_privileges() -> None:
    _lock_mounts()
    prctl(PR_SET_SECUREBITS, SECUREBITS_LOCKED)
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    for cap in range(last + 1):
        prctl(PR_CAPBSET_DROP, cap)
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    _check(_libc.capset(ctypes.byref(header), (_CapData * 2)()), "capset")
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    prctl(PR_SET_DUMPABLE, 0)
    status = dict(
        line.split(":\t", 1) for line in Path("/proc/self/status").read_text().splitlines()
    )
    caps = [status.get(f"Cap{kind}", "").strip() for kind in ("Inh", "Prm", "Eff", "Bnd", "Amb")]
    if any(int(cap or "1", 16) for cap in caps) or status.get("NoNewPrivs", "").strip() != "1":
        raise IsolationError(0, f"capabilities still held after dropping them ({caps})")


def probe(walls: Walls) -> str:
    """ "" when a run can be walled in here, else why not: the whole sequence, tried once."""
    read, write = os.pipe()
    pid_namespace = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    try:
        pid = fork_run(walls, pid_namespace)
    except OSError as exc:
        for fd in (read, write, pid_namespace):
            os.close(fd)
        return str(exc)
    if pid == 0:
        problem = ""
        try:
            enter(Walls((), 2**20, 2**20, True), keep=(write,))
        except OSError as exc:
            problem = str(exc) or type(exc).__name__
        with contextlib.suppress(OSError):
            os.write(write, problem.encode()[:500] or b"-")
        os._exit(0)
    for fd in (write, pid_namespace):
        os.close(fd)
    answer = os.read(read, 600).decode(errors="replace")
    os.close(read)
    os.waitpid(pid, 0)
    return "" if answer == "-" else answer or "the probe process died"
