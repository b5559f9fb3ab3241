"""The worker process: imports torch once, then forks a walled-in run process per grading run.

The judge starts it (inside bubblewrap when it can) with a pair of pipes per lane and, where
there is a budget, each lane's cgroup.procs (grader/budget.py), all named once in KATAS_WORKER
and gone from the environment before anything else runs. Each lane gets its own serving loop,
forked once torch is imported, so several grading processes share one import; the first
`light` lanes are forked before the `preload` modules (torch._dynamo: a second) are imported, so
runs that need none of them start that much sooner.

For each grading run a lane forks a run process from its warm copy of torch (milliseconds),
which walls itself in (grader/worker/isolation.py: its own pid, mount, network and IPC
namespaces, private size-capped /tmp and /dev/shm, the lane's cgroups, no capabilities),
loads the learner's file once and then answers that run's tasks one after another. A run
process that crashes, exits, overruns its time limit or writes garbage is killed with
everything it started, and the run's next task gets a fresh one. A task still running after a
quarter of its limit (most likely a hang) drops to nice 19, leaving its core to the other
lanes' work, and its run process serves no further task. Another run always gets a fresh run
process. The lane never parses what a run process sends: it forwards the answer's bytes, within
wire's size limit, and only the judge reads them.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import resource
import select
import signal
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import isolation, protocol, runner, wire
from .isolation import Walls
from .protocol import Done, Job, Loaded, Ready, Reply, Started

# a task still running after this share of its limit is most likely a hang: its run process
# yields its core to the other lanes' work (nice 19) until the limit, and serves no more tasks
DEMOTE_AFTER = 0.25
# a task of a run process already serving tells the judge it started only once it has run
# this long: most end well before, and their Started would only wake the judge once more
# (each wake-up costs more than the task's own answer on a VM; ~5% of a class's CPU here)
ANNOUNCE_AFTER = 0.1


@dataclass(frozen=True)
class Lane:
    """A lane's pipe ends (jobs come in on `commands`, messages go out on `channel`) and walls."""

    commands: int
    channel: int
    walls: Walls

    @property
    def fds(self) -> tuple[int, ...]:
        return (self.commands, self.channel, *self.walls.cgroup_procs)


def _send(channel: int, *messages: protocol.LaneMessage) -> None:
    """In one write: the judge wakes once for messages that go together."""
    frames = b"".join(wire.dumps(protocol.lane_message(message)) for message in messages)
    wire.write_all(channel, frames)


def _serve_tasks(job: Job, walls: Walls, tasks: int, replies: int, output: int) -> None:
    """The run process: wall itself in, load the file, answer tasks until told to stop.

    Never returns: os._exit also ends any thread the learner left running.
    """
    me = os.getpid()
    try:
        isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)  # dies with its lane
        os.setsid()  # a group of its own, that the lane can demote
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        os.dup2(output, 1)
        os.dup2(output, 2)
        try:
            isolation.enter(walls, keep=(tasks, replies))
        except OSError as exc:
            wire.write_all(replies, wire.frame(protocol.RUN_BROKEN + str(exc).encode()[:500]))
            return
        sys.stdout = open(1, "w", closefd=False, buffering=1)  # noqa: SIM115
        sys.stderr = open(2, "w", closefd=False, buffering=1)  # noqa: SIM115
        module, failed = runner.load(job.source, job.filename)
        if module is not None:
            # a hang after this is in a task, not on import (where every check would hang)
            wire.write_all(replies, wire.frame(protocol.RUN_LOADED))
        while (payload := wire.read_frame(tasks)) is not None:
            nonce, task, seed = protocol.parse_task(payload)
            answer = failed or runner.answer(module, task, job.filename, seed)
            if os.getpid() != me:  # learner code forked and its copy returned here
                break
            body = protocol.encode_answer(nonce, answer)
            if len(body) > wire.MAX_REPLY:
                body = protocol.encode_answer(nonce, protocol.too_large_answer(len(body)))
            sys.stdout.flush()  # what the task printed is in the pipe before its answer
            wire.write_all(replies, wire.frame(body))
    finally:
        os._exit(0)


def _describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return f"killed by signal {sig} ({signal.Signals(sig).name})"
    code = os.WEXITSTATUS(status)
    return "exited normally" if code == 0 else f"exited with status {code}"


def _kill_descendants() -> None:
    """Kill every process left under us (we are a subreaper: we inherit each one's orphans).

    A run in a pid namespace of its own leaves nothing here once its first process is dead;
    this sweep is for a worker that could not give runs namespaces.
    """
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


def _import_torch_modules(names: list[str]) -> None:
    """Import them here, once, so that no run process pays for them (torch's own only); with
    torch._dynamo imported, take the optimizers' first steps here too (warmup.py)."""
    for name in names:
        if name.startswith("torch"):
            importlib.import_module(name)
    if "torch._dynamo" in sys.modules:
        from . import warmup  # imported with torch, in main()

        warmup.optimizer_steps()


@dataclass
class RunProcess:
    """The process serving one grading run, and the pipes to it."""

    run: str
    pid: int
    tasks: int  # we write tasks here
    replies: int  # its frames come back here
    output: int  # what learner code prints
    reader: wire.FrameReader = field(default_factory=lambda: wire.FrameReader(wire.MAX_REPLY))
    loaded: bool = False
    answered: set[str] = field(default_factory=set)  # nonces of its tasks that have an answer

    @classmethod
    def fork(cls, job: Job, lane: Lane, pid_namespace: int) -> RunProcess:
        _import_torch_modules(job.imports)
        tasks_r, tasks_w = os.pipe()
        replies_r, replies_w = os.pipe()
        out_r, out_w = os.pipe()
        pid = isolation.fork_run(lane.walls, pid_namespace)
        if pid == 0:
            for fd in (tasks_w, replies_r, out_r):
                os.close(fd)
            _serve_tasks(job, lane.walls, tasks_r, replies_w, out_w)
        for fd in (tasks_r, replies_w, out_w):
            os.close(fd)
        for fd in (tasks_w, replies_r, out_r):
            os.set_blocking(fd, False)
        return cls(job.run, pid, tasks_w, replies_r, out_r)

    def spoke_out_of_turn(self) -> bool:
        """Bytes in its reply pipe between tasks: learner code wrote there itself, and the
        run's next task goes to a fresh process so that no answer is taken for another's."""
        readable, _, _ = select.select([self.replies], [], [], 0)
        return bool(readable) or self.reader.pending

    def demote(self) -> None:
        """Lowest priority for it and its group (raising it again would need privilege)."""
        for which in (os.PRIO_PGRP, os.PRIO_PROCESS):
            with contextlib.suppress(OSError):
                os.setpriority(which, self.pid, 19)

    def retire(self) -> str:
        """Kill it and whatever it started; how it ended."""
        with contextlib.suppress(OSError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGKILL)  # a pid namespace's first: the kernel kills all
        _, status = os.waitpid(self.pid, 0)
        for fd in (self.tasks, self.replies, self.output):
            os.close(fd)
        _kill_descendants()
        return _describe_status(status)


@dataclass
class PendingTask:
    """One task handed to a run process, and what came back."""

    nonce: str
    pending: bytes  # the task's frame, until the run process has taken all of it
    deadline: float
    demote_at: float
    announce_at: float  # when to tell the judge the task started, if it has not ended yet
    answer: str | None = None
    announced: bool = False  # the judge was told Started
    elapsed: float = 0.0  # seconds from handing it over to its end
    loaded: bool = False  # its run process had loaded the file by then
    ended: bool = False  # the run process is gone (exit, crash) or spoke garbage
    refused: str = ""  # why its bytes were refused
    broken: str = ""  # its walls could not be built
    timed_out: bool = False
    demoted: bool = False
    stale: bool = False  # the run process went on answering a task it had answered before
    status: str = "running"  # how the run process ended, if it was retired
    kept: bytearray = field(default_factory=bytearray)
    total: int = 0

    def next_event(self, now: float) -> float:
        """Seconds until the deadline, the demotion or the announcement, whichever is next."""
        events = [self.deadline]
        events += [] if self.demoted else [self.demote_at]
        events += [] if self.announced else [self.announce_at]
        return max(0.0, min(events) - now)

    def keep(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self.kept += chunk[: max(0, protocol.OUTPUT_KEPT - len(self.kept))]


def _read_output(run: RunProcess, task: PendingTask) -> None:
    while True:
        try:
            chunk = os.read(run.output, wire.PIPE_READ)
        except BlockingIOError:
            return
        if not chunk:
            return
        task.keep(chunk)


def _read_replies(run: RunProcess, task: PendingTask) -> None:
    try:
        chunk = os.read(run.replies, wire.PIPE_READ)
    except BlockingIOError:
        return
    if not chunk:
        task.ended = True
        return
    try:
        frames = run.reader.feed(chunk)
    except wire.Unreadable as exc:
        task.ended, task.refused = True, f"sent the grader {exc}"
        return
    for body in frames:
        kind, rest = body[:1], body[1:]
        if kind == protocol.RUN_LOADED and not rest and not run.loaded:
            run.loaded = True  # the judge is told with the task's Done
        elif kind == protocol.RUN_ANSWER:
            nonce, text = protocol.split_answer(rest)
            if nonce == task.nonce and task.answer is None:
                task.answer = text
                run.answered.add(nonce)
            elif nonce not in run.answered:  # no task's answer: learner code wrote it
                task.ended, task.refused = True, "wrote into the grader's reply channel"
            elif nonce != task.nonce:  # an earlier task still busy: its first answer was forged
                task.ended, task.stale = True, True
            # else a second answer to this task, after learner code wrote the first
        elif kind == protocol.RUN_BROKEN:
            task.ended, task.broken = True, rest.decode("utf-8", "replace")
        else:  # learner code wrote into its own reply pipe
            task.ended, task.refused = True, "wrote into the grader's reply channel"


class LaneLoop:
    """One lane's serving loop: a job at a time, a run process per grading run."""

    def __init__(self, lane: Lane, isolation_problem: str) -> None:
        self.lane = lane
        self.isolation_problem = isolation_problem
        self.run: RunProcess | None = None
        self.pid_namespace = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)

    def serve(self) -> None:
        isolation.prctl(isolation.PR_SET_CHILD_SUBREAPER, 1)
        isolation.join_budget(self.lane.walls)
        _send(self.lane.channel, Ready(self.isolation_problem))
        while (payload := wire.read_frame(self.lane.commands)) is not None:
            self._run(protocol.parse_job(payload))
        if self.run is not None:  # the judge let go of this lane: leave nothing behind
            self.run.retire()

    def _run(self, job: Job) -> None:
        task = self._attempt(job)
        if task.stale:
            # learner code forged an earlier task's answer and went on writing after it, into
            # this task's time: this task starts again, on a process of its own
            elapsed = task.elapsed
            task = self._attempt(job)
            task.elapsed += elapsed
        done = Done(
            nonce=job.nonce,
            status=task.status,
            timed_out=task.timed_out,
            output=task.kept.decode("utf-8", "replace"),
            output_bytes=task.total,
            elapsed=task.elapsed,
            refused=task.refused,
            broken=task.broken,
        )
        loaded = [Loaded(job.nonce)] if task.loaded else []
        reply = [Reply(job.nonce, task.answer)] if task.answer is not None else []
        _send(self.lane.channel, *loaded, *reply, done)

    def _announce(self, task: PendingTask) -> None:
        """Tell the judge the task started: its clock for a stuck worker starts now."""
        task.announced = True
        _send(self.lane.channel, Started(task.nonce))

    def _attempt(self, job: Job) -> PendingTask:
        """Hand `job` to the run process (a fresh one for a new run) and wait for its answer."""
        if self.run is not None and (self.run.run != job.run or self.run.spoke_out_of_turn()):
            self.run.retire()
            self.run = None
        fresh = self.run is None
        if fresh:
            self.run = RunProcess.fork(job, self.lane, self.pid_namespace)
        run = self.run
        start = time.monotonic()
        task = PendingTask(
            job.nonce,
            wire.dumps(protocol.task_message(job)),
            start + job.seconds,
            start + job.seconds * DEMOTE_AFTER,
            start + ANNOUNCE_AFTER,
        )
        if fresh:  # at once: the judge starts counting a new run's budget from here
            self._announce(task)
        while task.answer is None and not task.ended:
            now = time.monotonic()
            remaining = task.deadline - now
            if remaining <= 0:
                task.timed_out = True
                break
            if not task.announced and now >= task.announce_at:
                self._announce(task)
            if not task.demoted and now >= task.demote_at:
                run.demote()
                task.demoted = True
            writing = [run.tasks] if task.pending else []
            wait = task.next_event(now)
            readable, writable, _ = select.select([run.replies, run.output], writing, [], wait)
            if run.output in readable:
                _read_output(run, task)
            if run.replies in readable:
                _read_replies(run, task)
            if writable:
                try:
                    task.pending = task.pending[os.write(run.tasks, task.pending) :]
                except BrokenPipeError:
                    task.ended = True
        _read_output(run, task)
        task.elapsed = time.monotonic() - start
        task.loaded = run.loaded
        if task.ended or task.timed_out or task.demoted:
            # slow but done, too: the run's next task gets a process at full priority
            task.status = run.retire()
            self.run = None
        return task


def _fork_lane(lane: Lane, lanes: list[Lane], isolation_problem: str, nice: int = 0) -> None:
    if os.fork() == 0:
        os.nice(nice)
        gc.freeze()  # no collection in a lane or its runs walks (and copies) torch's objects
        gc.enable()
        for other in lanes:
            if other is not lane:
                for fd in other.fds:
                    os.close(fd)
        try:
            LaneLoop(lane, isolation_problem).serve()
        finally:
            os._exit(0)


def _configure() -> tuple[dict[str, Any], list[Lane]]:
    """The judge's settings, read once; nothing in the environment names an fd afterwards."""
    config = json.loads(os.environ.pop("KATAS_WORKER"))
    for name in [name for name in os.environ if name.startswith("KATAS_")]:
        del os.environ[name]
    memory = int(config["memory_bytes"])
    if memory:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    lanes = [
        Lane(
            commands,
            channel,
            Walls(
                tuple(cgroups),
                config["tmp_bytes"],
                config["shm_bytes"],
                config["isolate"],
                tuple(config["keep_in_tmp"]),
            ),
        )
        for commands, channel, cgroups in config["lanes"]
    ]
    return config, lanes


def main() -> None:
    config, lanes = _configure()
    problem = ""
    if config["isolate"]:  # before torch: a probe's fork costs nothing yet
        problem = isolation.probe(lanes[0].walls)
        if problem:  # runs still go, without namespaces, and every report says so
            lanes = [replace(lane, walls=replace(lane.walls, namespaces=False)) for lane in lanes]
    light = int(config["light"])  # forked before the preload
    gc.disable()  # importing torch makes ~a million objects and no garbage: skip gc passes
    import torch

    torch.set_num_threads(1)  # one core per check, and fork-safe: no thread pool yet
    import torch.nn.functional  # warm the modules learners import
    import torch.optim

    from . import guards, warmup  # noqa: F401  imported once here, not in every run process

    warmup.import_scenarios()
    warmup.first_steps()
    if config["huge_pages"]:
        warmup.onto_huge_pages()

    # light lanes serve runs that need none of the preload, from now on; they run niced so
    # that the preload, which the other lanes wait for, is imported sooner (grade: -0.1 s)
    for lane in lanes[:light]:
        _fork_lane(lane, lanes, problem, nice=10)
    _import_torch_modules(config["preload"])
    if config["huge_pages"] and config["preload"]:
        warmup.onto_huge_pages()  # what the preload added
    gc.freeze()
    gc.enable()

    if len(lanes) == 1 and not light:
        LaneLoop(lanes[0], problem).serve()
        os._exit(0)  # tearing torch down would only delay the judge waiting for us
    for lane in lanes[light:]:
        _fork_lane(lane, lanes, problem)
    for fd in (fd for lane in lanes for fd in lane.fds):
        os.close(fd)
    with contextlib.suppress(ChildProcessError):
        while True:
            os.wait()
    os._exit(0)
