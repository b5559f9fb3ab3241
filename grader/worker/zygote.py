"""The worker process: imports torch once, then forks a child per grading run.

Started by the judge (inside the sandbox when there is one) with a pair of
pipes per lane (KATAS_LANES); with several lanes, each gets its own serving
loop, forked once torch is imported, so several grading processes share one
import. The first KATAS_LIGHT_LANES lanes are forked before the KATAS_PRELOAD
modules (torch._dynamo: a second) are imported, so runs that need none of them
start that much sooner. Forking a process that has already imported torch costs
milliseconds; the child loads the learner's file once and then answers that
run's tasks one after another, so a check costs a message rather than a fork. A
child that crashes, exits, overruns its time limit or speaks garbage is killed,
and the run's next task gets a fresh one. A task still running after a quarter of
its limit (most likely a hang) drops to nice 19, leaving its core to the other
lanes' work, and its child serves no further task. Another run (another
submission) always gets a fresh child. A serving loop is a subreaper: whatever a
child started, even in a session of its own, is killed with it.

Protocol, per lane: the worker sends {"op": "ready"}. For each {"op": "job", "nonce",
"run", "source", "filename", "task", "seed", "seconds", "imports"} it sends
{"op": "started", "nonce", "pid"}, then {"op": "loaded", "nonce"} once the file
is imported, {"op": "reply", "nonce", ...} with the child's answer, and
{"op": "done", "nonce", "status", "timed_out", "output", "output_bytes"}.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import os
import resource
import select
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import runner, wire

OUTPUT_KEPT = 16 * 1024  # bytes of the learner's printed output kept per job
# a task still running after this share of its limit is most likely a hang: its child yields
# its core to the other lanes' work (nice 19) until the limit, and serves no further task
DEMOTE_AFTER = 0.25
_PR_SET_CHILD_SUBREAPER = 36
_PR_SET_PDEATHSIG = 1


def _set_limits() -> None:
    memory = int(os.environ.get("KATAS_MEMORY_BYTES", "0"))
    if memory:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _answer_tasks(job: dict[str, Any], tasks: int, replies: int, output: int) -> None:
    """The forked child: load the file, then answer tasks until told to stop. Never returns."""
    me = os.getpid()
    try:
        os.setpgid(0, 0)
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # dies with the lane, if it is killed
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.close(output)
        sys.stdout = open(1, "w", closefd=False, buffering=1)  # noqa: SIM115
        sys.stderr = open(2, "w", closefd=False, buffering=1)  # noqa: SIM115
        filename = job["filename"]
        module, failed = runner.load(job["source"], filename)
        if module is not None:
            # a hang after this is in a task, not on import (where every check would hang)
            wire.write_frame(replies, {"op": "loaded"})
        while (message := wire.read_frame_blocking(tasks)) is not None:
            reply = failed or runner.answer(module, message["task"], filename, message["seed"])
            if os.getpid() != me:  # learner code forked and its copy returned here
                break
            frame = wire.dumps({"op": "reply", **reply})
            if len(frame) > wire.MAX_FRAME:
                frame = wire.dumps({"op": "reply", "too_large": len(frame)})
            sys.stdout.flush()  # what the task printed is in the pipe before its answer
            view = memoryview(frame)
            while view:
                view = view[os.write(replies, view) :]
    finally:
        os._exit(0)  # also ends any thread the learner left running


def _describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return f"killed by signal {sig} ({signal.Signals(sig).name})"
    code = os.WEXITSTATUS(status)
    return "exited normally" if code == 0 else f"exited with status {code}"


def _kill_descendants() -> None:
    """Kill every process left under us: as a subreaper, we inherit each one's orphans."""
    me = os.getpid()
    for _ in range(100):  # each pass kills a generation; a fork bomb is cut off by the limit
        try:
            children = Path(f"/proc/{me}/task/{me}/children").read_text().split()
        except OSError:
            return
        if not children:
            return
        for pid in map(int, children):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass


def _prctl(option: int, value: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(option, value)


def _import_torch_modules(names: list[str]) -> None:
    """Import them here, once, so that no child pays for them (torch's own modules only)."""
    for name in names:
        if name.startswith("torch"):
            importlib.import_module(name)


@dataclass
class Child:
    """The process serving one grading run, and the pipes to it."""

    run: str
    pid: int
    tasks: int  # we write tasks here
    replies: int  # its frames come back here
    output: int  # what learner code prints
    reader: wire.FrameReader = field(default_factory=wire.FrameReader)
    loaded: bool = False

    @classmethod
    def fork(cls, job: dict[str, Any]) -> Child:
        _import_torch_modules(job.get("imports", []))
        tasks_r, tasks_w = os.pipe()
        replies_r, replies_w = os.pipe()
        out_r, out_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            for fd in (tasks_w, replies_r, out_r, *_INHERITED):
                os.close(fd)
            _answer_tasks(job, tasks_r, replies_w, out_w)
        for fd in (tasks_r, replies_w, out_w):
            os.close(fd)
        for fd in (tasks_w, replies_r, out_r):
            os.set_blocking(fd, False)
        return cls(job["run"], pid, tasks_w, replies_r, out_r)

    def demote(self) -> None:
        """Lowest priority for it and its process group (lowering it back needs privilege)."""
        for which in (os.PRIO_PGRP, os.PRIO_PROCESS):
            with contextlib.suppress(OSError):
                os.setpriority(which, self.pid, 19)

    def retire(self) -> str:
        """Kill it and whatever it started; how it ended."""
        with contextlib.suppress(OSError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGKILL)  # if it died before making its own group
        _, status = os.waitpid(self.pid, 0)
        for fd in (self.tasks, self.replies, self.output):
            os.close(fd)
        _kill_descendants()  # what it started in its own session or group, too
        return _describe_status(status)


@dataclass
class Job:
    """One task sent to a child, and what came back."""

    nonce: str
    pending: bytes  # the task's frame, until the child has taken all of it
    deadline: float
    demote_at: float
    reply: dict[str, Any] | None = None
    ended: bool = False  # the child is gone (exit, crash, garbage)
    timed_out: bool = False
    demoted: bool = False
    kept: bytearray = field(default_factory=bytearray)
    total: int = 0

    def keep(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self.kept += chunk[: max(0, OUTPUT_KEPT - len(self.kept))]


_INHERITED: tuple[int, ...] = ()  # the judge's pipes: no child may hold them
_child: Child | None = None


def _read_output(child: Child, job: Job) -> None:
    while True:
        try:
            chunk = os.read(child.output, 1 << 16)
        except BlockingIOError:
            return
        if not chunk:
            return
        job.keep(chunk)


def _read_replies(child: Child, job: Job, channel: int) -> None:
    try:
        chunk = os.read(child.replies, 1 << 20)
    except BlockingIOError:
        return
    if not chunk:
        job.ended = True
        return
    try:
        frames = child.reader.feed(chunk)
    except wire.WireError:
        job.ended = True  # learner code wrote into the pipe: the child cannot be trusted
        return
    for frame in frames:
        if frame.get("op") == "loaded" and not child.loaded:
            child.loaded = True
            wire.write_frame(channel, {"op": "loaded", "nonce": job.nonce})
        elif frame.get("op") == "reply" and job.reply is None:
            job.reply = frame


def _run(message: dict[str, Any], channel: int) -> None:
    global _child
    if _child is not None and _child.run != message["run"]:
        _child.retire()
        _child = None
    if _child is None:
        _child = Child.fork(message)
    child = _child
    task = {"task": message["task"], "seed": message.get("seed")}
    start, seconds = time.monotonic(), float(message["seconds"])
    job = Job(message["nonce"], wire.dumps(task), start + seconds, start + seconds * DEMOTE_AFTER)
    wire.write_frame(channel, {"op": "started", "nonce": job.nonce, "pid": child.pid})
    if child.loaded:
        wire.write_frame(channel, {"op": "loaded", "nonce": job.nonce})
    while job.reply is None and not job.ended:
        now = time.monotonic()
        remaining = job.deadline - now
        if remaining <= 0:
            job.timed_out = True
            break
        if not job.demoted and now >= job.demote_at:
            child.demote()
            job.demoted = True
        wait = remaining if job.demoted else min(remaining, job.demote_at - now)
        writing = [child.tasks] if job.pending else []
        readable, writable, _ = select.select([child.replies, child.output], writing, [], wait)
        if child.output in readable:
            _read_output(child, job)
        if child.replies in readable:
            _read_replies(child, job, channel)
        if writable:
            try:
                job.pending = job.pending[os.write(child.tasks, job.pending) :]
            except BrokenPipeError:
                job.ended = True
    _read_output(child, job)
    status = "running"
    if job.ended or job.timed_out:
        status = child.retire()
        _child = None
    elif job.demoted:  # slow but done: the run's next task gets a child at full priority
        child.retire()
        _child = None
    if job.reply is not None:
        job.reply.update(op="reply", nonce=job.nonce)
        wire.write_frame(channel, job.reply)
    wire.write_frame(
        channel,
        {
            "op": "done",
            "nonce": job.nonce,
            "status": status,
            "timed_out": job.timed_out,
            "output": job.kept.decode("utf-8", "replace"),
            "output_bytes": job.total,
        },
    )


def _serve_lane(commands: int, channel: int) -> None:
    global _INHERITED
    _INHERITED = (commands, channel)
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    wire.write_frame(channel, {"op": "ready", "pid": os.getpid()})
    while (message := wire.read_frame_blocking(commands)) is not None:
        _run(message, channel)
    if _child is not None:  # the judge let go of this lane: leave nothing behind
        _child.retire()


def _lanes() -> list[tuple[int, int]]:
    """The (commands, channel) pipe ends of each lane the judge opened for us."""
    lanes = os.environ.get("KATAS_LANES", "")
    return [tuple(int(fd) for fd in lane.split(",")) for lane in lanes.split(";") if lane]


def _fork_lane(lane: tuple[int, int], lanes: list[tuple[int, int]], nice: int = 0) -> None:
    if os.fork() == 0:
        os.nice(nice)
        gc.freeze()  # no collection in a lane or its children walks (and copies) torch's objects
        gc.enable()
        for other in lanes:
            if other is not lane:
                for fd in other:
                    os.close(fd)
        try:
            _serve_lane(*lane)
        finally:
            os._exit(0)


def main() -> None:
    lanes = _lanes()
    light = int(os.environ.get("KATAS_LIGHT_LANES", "0"))  # forked before KATAS_PRELOAD
    _set_limits()
    gc.disable()  # importing torch makes ~a million objects and no garbage: skip gc passes
    import torch

    torch.set_num_threads(1)  # one core per check, and fork-safe: no thread pool yet
    import torch.nn.functional  # noqa: F401  warm the modules learners import
    import torch.optim  # noqa: F401

    from . import guards  # noqa: F401  imported once here, not in every child

    # light lanes serve runs that need none of the preload, from now on; they run niced so
    # that the preload, which the other lanes wait for, is imported sooner (grade: -0.1 s)
    for lane in lanes[:light]:
        _fork_lane(lane, lanes, nice=10)
    _import_torch_modules(os.environ.get("KATAS_PRELOAD", "").split(","))
    gc.freeze()
    gc.enable()

    if len(lanes) == 1 and not light:
        _serve_lane(*lanes[0])
        os._exit(0)  # tearing torch down would only delay the judge waiting for us
    for lane in lanes[light:]:
        _fork_lane(lane, lanes)
    for fd in (fd for lane in lanes for fd in lane):
        os.close(fd)
    with contextlib.suppress(ChildProcessError):
        while True:
            os.wait()
    os._exit(0)
