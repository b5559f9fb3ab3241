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


@dataclass(frozen=True)
class Limits:
    check_seconds: float = 10.0
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


class Worker:
    """One sandboxed worker process; restarted after a hang or a crash."""

    def __init__(self, limits: Limits, hidden: tuple[Path, ...] = ()) -> None:
        """`hidden`: directories the learner's code must not see besides the project's own
        (an nbgrader course, whose source/ holds the references)."""
        self.limits = limits
        self.hidden = tuple(p.resolve() for p in hidden)
        self.mode = sandbox_mode()
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader = wire.FrameReader()
        self._pending: list[dict[str, Any]] = []
        self._ready = False
        self._child_pid: int | None = None
        self._scratch: tempfile.TemporaryDirectory[str] | None = None

    def start(self) -> None:
        """Spawn the worker without waiting for it (it imports torch meanwhile)."""
        if self._proc is not None:
            return
        python = sys.executable
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(PACKAGE_DIR.parent),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": "0",
            "HOME": "/tmp",
            "KATAS_MEMORY_BYTES": str(self.limits.memory_bytes),
            "OMP_NUM_THREADS": "1",
        }
        if self.mode == "bubblewrap":
            command, cwd = _bubblewrap_command(python, self.hidden), None
            env["KATAS_PID_NAMESPACE"] = "1"  # the worker may kill any stray process it sees
        else:
            self._scratch = tempfile.TemporaryDirectory(prefix="katas-worker-")
            command, cwd = [python, "-m", "grader.worker"], self._scratch.name
            env["TMPDIR"] = self._scratch.name
        self._proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        os.set_blocking(self._proc.stdout.fileno(), False)
        self._reader = wire.FrameReader()
        self._pending = []
        self._ready = False

    def close(self) -> None:
        """Kill the worker and everything it started."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for group in (proc.pid, self._child_pid):
            if group is not None:
                with contextlib.suppress(OSError):
                    os.killpg(group, signal.SIGKILL)
        self._child_pid = None
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            with contextlib.suppress(OSError):
                stream.close()
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None

    def _next_message(self, deadline: float) -> dict[str, Any] | None:
        """The next message from the worker, or None at the deadline or when it died."""
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
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
        imports: tuple[str, ...] = (),
        *,
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
            assert self._proc is not None and self._proc.stdin is not None
            self._proc.stdin.write(wire.dumps(job))
            self._proc.stdin.flush()
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
                    if self.mode != "bubblewrap":  # in bubblewrap the pid is the namespace's own
                        self._child_pid = int(message["pid"])
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
