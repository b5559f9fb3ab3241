"""Starts the worker in a sandbox and runs jobs in it with time limits.

The judge never imports learner code: it asks the worker, a separate process,
to run one job at a time and reads back plain data. The worker runs under
bubblewrap when it works here (read-only system, private /tmp, no network, the
project's references and checks hidden); otherwise in a plain process with
resource limits, and says so ("unsandboxed").
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from .catalog import PACKAGE_DIR, PROJECT_ROOT
from .worker import wire

_PR_SET_PDEATHSIG = 1
STUCK_SECONDS = 5.0  # grace beyond a job's limit before the worker itself counts as stuck
CLOSE_GRACE_SECONDS = 1.0  # for a closing worker to clean up after itself before it is killed


@dataclass(frozen=True)
class Limits:
    # per check: 50x what the slowest reference needs (40 ms; checks that train carry their
    # own, kit.seconds), and short enough that an infinite loop is news within seconds
    check_seconds: float = 2.0
    run_seconds: float = 120.0
    startup_seconds: float = 60.0
    memory_bytes: int = 4 * 2**30  # torch needs ~2 GiB of address space to start its threads


@dataclass
class JobOutcome:
    """What happened to one job, as the judge saw it."""

    reply: dict[str, Any] | None = None  # the child's answer; None if it never gave one
    status: str = ""  # how the child ended
    output: str = ""  # what learner code printed (the start of it)
    output_bytes: int = 0
    timed_out: bool = False
    elapsed: float = 0.0  # seconds from sending the job to its end (start-up excluded)
    broken: str | None = None  # the worker spoke garbage or died
    loaded: bool = False  # the learner's file finished importing in this job


@cache
def bubblewrap_problem() -> str | None:
    """None when bubblewrap can start a sandbox here, else why not."""
    if os.environ.get("KATAS_SANDBOX") == "none":
        return "disabled by KATAS_SANDBOX=none"
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed"
    probe = subprocess.run(
        [bwrap, "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "true"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    if probe.returncode != 0:
        return f"bwrap cannot start here: {probe.stderr.strip()[:200]}"
    return None


def sandbox_mode() -> str:
    problem = bubblewrap_problem()
    return "bubblewrap" if problem is None else f"unsandboxed ({problem})"


def _bubblewrap_command(python: str, also_hidden: tuple[Path, ...]) -> list[str]:
    command = [
        "bwrap",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--chdir",
        "/tmp",
    ]
    private_tmp = Path("/tmp")  # a fresh tmpfs: the worker's own scratch space
    # the checks, the project holding the references, and whatever the caller adds
    # (parents first: a tmpfs mounted over a parent would bury an earlier one on its child)
    also_hidden = tuple(p.resolve() for p in also_hidden)
    hidden = sorted({PROJECT_ROOT, PACKAGE_DIR, *also_hidden}, key=lambda p: len(p.parts))
    for path in (private_tmp, *hidden):
        command += ["--tmpfs", str(path)]
    # what the worker runs on comes back into view, even from under a hidden dir or /tmp
    visible = [PACKAGE_DIR / "__init__.py", PACKAGE_DIR / "worker", Path(sys.prefix)]
    visible.append(Path(sys.base_prefix))
    for path in visible:
        if any(path.is_relative_to(h) for h in (private_tmp, *hidden)):
            command += ["--ro-bind", str(path), str(path)]
    for path in hidden:
        command += ["--remount-ro", str(path)]
    return [*command, python, "-m", "grader.worker"]


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass(frozen=True)
class Link:
    """The judge's ends of one worker lane: jobs go out on `commands`, frames come back."""

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
        hidden: tuple[Path, ...] = (),
        lanes: int = 1,
        preload: tuple[str, ...] = (),
        light_lanes: int = 0,
    ) -> None:
        """`light_lanes`: how many of the lanes (the first ones) are forked before `preload`
        is imported, for runs that need none of it."""
        self.mode = sandbox_mode()
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(PACKAGE_DIR.parent),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": "0",
            "HOME": "/tmp",
            "KATAS_MEMORY_BYTES": str(limits.memory_bytes),
            "KATAS_PRELOAD": ",".join(preload),
            "KATAS_LIGHT_LANES": str(light_lanes),
            "OMP_NUM_THREADS": "1",
        }
        python = sys.executable
        if self.mode == "bubblewrap":
            command, cwd = _bubblewrap_command(python, hidden), None
        else:
            self._scratch = tempfile.TemporaryDirectory(prefix="katas-worker-")
            command, cwd = [python, "-m", "grader.worker"], self._scratch.name
            env["TMPDIR"] = self._scratch.name
        theirs, self.links = [], []
        for _ in range(lanes):
            commands_r, commands_w = os.pipe()
            replies_r, replies_w = os.pipe()
            os.set_blocking(commands_w, False)
            os.set_blocking(replies_r, False)
            theirs.append((commands_r, replies_w))
            self.links.append(Link(commands_w, replies_r))
        env["KATAS_LANES"] = ";".join(f"{r},{w}" for r, w in theirs)
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            pass_fds=[fd for pair in theirs for fd in pair],
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        for fd in (fd for pair in theirs for fd in pair):
            os.close(fd)

    def close(self) -> None:
        """End the worker and everything it started.

        Closing the lanes lets each serving loop kill its child and the child's descendants
        itself (they are its orphans to reap); the process group is killed after a moment.
        """
        for link in self.links:
            link.close()
        self.links = []
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(CLOSE_GRACE_SECONDS)
        with contextlib.suppress(OSError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None


class Worker:
    """Runs jobs in a worker lane: its own process, or a lane of a shared one.

    After a worker broke down (it died, or stopped answering), the next job starts a
    fresh process of this Worker's own.
    """

    def __init__(
        self,
        limits: Limits,
        hidden: tuple[Path, ...] = (),
        link: Link | None = None,
        preload: tuple[str, ...] = (),
    ) -> None:
        """`hidden`: directories the learner's code must not see besides the project's own
        (an nbgrader course, whose source/ holds the references). `link`: a lane of a
        shared WorkerProcess to use until it breaks. `preload`: what our own process imports
        up front (see WorkerProcess)."""
        self.limits = limits
        self.hidden = hidden
        self.preload = preload
        self.mode = sandbox_mode()
        self._own: WorkerProcess | None = None
        self._link = link
        self._reader = wire.FrameReader()
        self._pending: list[dict[str, Any]] = []
        self._ready = False

    def start(self) -> None:
        """Spawn our own worker, unless we have a lane, without waiting for it."""
        if self._link is None:
            self._own = WorkerProcess(self.limits, self.hidden, preload=self.preload)
            self._link = self._own.links[0]
            self._reader = wire.FrameReader()
            self._pending = []
            self._ready = False

    def close(self) -> None:
        """Stop using the worker: kill our own, or let go of a shared lane."""
        link, self._link = self._link, None
        if self._own is not None:
            self._own.close()
            self._own = None
        elif link is not None:
            link.close()

    def _next_message(self, deadline: float) -> dict[str, Any] | None:
        """The next message from the worker, or None at the deadline or when it died."""
        assert self._link is not None
        fd = self._link.replies
        while not self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise wire.WireError("the worker process ended")
            self._pending.extend(self._reader.feed(chunk))
        return self._pending.pop(0)

    def _send(self, message: dict[str, Any], deadline: float) -> None:
        """Write a job without ever blocking past `deadline` (a stopped worker reads nothing)."""
        assert self._link is not None
        fd = self._link.commands
        view = memoryview(wire.dumps(message))
        while view:
            remaining = deadline - time.monotonic()
            _, writable, _ = select.select([], [fd], [], max(remaining, 0))
            if not writable:
                raise wire.WireError("the worker took no job")
            view = view[os.write(fd, view) :]

    def _await_ready(self, deadline: float) -> str | None:
        self.start()
        while not self._ready:
            message = self._next_message(deadline)
            if message is None:
                return "the worker did not start in time"
            self._ready = message.get("op") == "ready"
        return None

    def run(
        self,
        source: str,
        filename: str,
        task: dict[str, Any],
        seconds: float,
        *,
        imports: tuple[str, ...] = (),
        run: str = "",
        seed: int | None = None,
    ) -> JobOutcome:
        """Run one task on the learner's source within `seconds`.

        Tasks with the same `run` id share a child that loaded the source once; another id
        gets a fresh child. `seed` seeds the child's random state before the task.
        `imports` are modules the worker imports once, before forking, so that no child pays
        for them (torch.optim's first step imports torch._dynamo: seconds). The clock starts
        when the worker hands the task over.
        """
        start_deadline = time.monotonic() + self.limits.startup_seconds
        try:
            problem = self._await_ready(start_deadline)
        except wire.WireError as exc:
            problem = f"the worker failed to start: {exc}"
        if problem:
            self.close()
            return JobOutcome(broken=problem)
        nonce = secrets.token_hex(8)
        job = {
            "op": "job",
            "nonce": nonce,
            "run": run or nonce,
            "source": source,
            "filename": filename,
            "task": task,
            "seed": seed,
            "seconds": seconds,
            "imports": list(imports),
        }
        outcome = JobOutcome()
        forked: float | None = None
        deadline = start_deadline
        try:
            self._send(job, deadline)
            while True:
                message = self._next_message(deadline)
                if forked is not None:
                    outcome.elapsed = time.monotonic() - forked
                if message is None:
                    self.close()
                    outcome.broken = "the worker did not " + (
                        "start the job in time" if forked is None else "end the job in time"
                    )
                    return outcome
                if message.get("nonce") != nonce:
                    continue  # stale or forged: not an answer to this job
                op = message.get("op")
                if op == "started" and forked is None:
                    forked = time.monotonic()
                    # the worker enforces `seconds`; past this it is stuck and is restarted
                    deadline = forked + seconds + STUCK_SECONDS
                elif op == "loaded":
                    outcome.loaded = True
                elif op == "reply" and outcome.reply is None:
                    outcome.reply = message
                elif op == "done":
                    outcome.timed_out = bool(message.get("timed_out"))
                    outcome.status = str(message.get("status", ""))
                    outcome.output = str(message.get("output", ""))
                    outcome.output_bytes = int(message.get("output_bytes", 0))
                    return outcome
        except (wire.WireError, OSError, ValueError, KeyError, TypeError) as exc:
            self.close()
            outcome.broken = f"the worker broke down ({exc})"
            return outcome


class SplitWorker(Worker):
    """A lane where `preload` was imported, and a light lane forked before that import.

    Runs that need no imports go to the light lane, ready as soon as torch is imported;
    the others wait for the preload (torch._dynamo: a second more).
    """

    def __init__(self, limits: Limits, hidden: tuple[Path, ...], link: Link, light: Link) -> None:
        super().__init__(limits, hidden, link)
        self.light = Worker(limits, hidden, light)

    def run(self, *args: Any, imports: tuple[str, ...] = (), **kwargs: Any) -> JobOutcome:
        """Worker.run, on the lane `imports` (by keyword) call for."""
        if imports:
            return super().run(*args, imports=imports, **kwargs)
        return self.light.run(*args, **kwargs)

    def close(self) -> None:
        self.light.close()
        super().close()


class SharedWorker:
    """One worker process for several grading processes: torch is imported there once.

    Each grading process (forked after this is made) takes one of `workers`. With a
    `preload`, each also gets a light lane that does not wait for it (SplitWorker).
    """

    def __init__(
        self,
        limits: Limits,
        lanes: int,
        hidden: tuple[Path, ...] = (),
        preload: tuple[str, ...] = (),
    ) -> None:
        light = lanes if preload else 0
        self.process = WorkerProcess(limits, hidden, lanes + light, preload, light)
        links = self.process.links
        if light:  # the first `lanes` links are the light ones
            pairs = zip(links[:lanes], links[lanes:], strict=True)
            self.workers: list[Worker] = [SplitWorker(limits, hidden, h, lit) for lit, h in pairs]
        else:
            self.workers = [Worker(limits, hidden, link) for link in links]

    def close(self) -> None:
        self.process.close()
