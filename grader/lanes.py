"""The judge's handles on the worker: a lane runs one task at a time, a pool shares a worker.

A Lane sends a lane of a worker process (grader/sandbox.py) one task of a grading run at a
time, within its time limit, and reads back what happened: the answer (parsed here, within
wire's bounds: nothing from a run process is trusted), what the learner's code printed, how
its run process ended, and, from the lane's cgroup, whether the run went over its budget.
After a worker broke down (it died, or stopped answering), the next task starts a fresh
process of the Lane's own. A LanePool is one worker process for several grading processes.
"""

from __future__ import annotations

import os
import select
import time
from dataclasses import dataclass
from typing import Any

from .budget import LaneCgroups, RunUsage
from .sandbox import Limits, Link, WorkerProcess
from .worker import protocol, wire
from .worker.protocol import Answer, Done, Job, Loaded, Ready, Reply, Started

STUCK_SECONDS = 5.0  # grace beyond a task's limit before the worker itself counts as stuck


@dataclass
class TaskOutcome:
    """What happened to one task, as the judge saw it."""

    answer: Answer | None = None  # None if the run process gave none
    unreadable: str = ""  # why its answer could not be read: the learner's doing
    refused: str = ""  # what the lane refused of its bytes: the learner's doing
    status: str = ""  # how the run process ended
    output: str = ""  # what learner code printed (the start of it)
    output_bytes: int = 0
    timed_out: bool = False
    elapsed: float = 0.0  # seconds from handing the task over to its end (start-up excluded)
    broken: str | None = None  # the worker, or the walls of the run, failed: not the learner
    loaded: bool = False  # the learner's file finished importing in this run
    usage: RunUsage | None = None  # the run's cgroup counters, when there is a budget


class Lane:
    """Runs tasks in a lane: of its own worker process, or of a shared one."""

    def __init__(
        self,
        limits: Limits,
        link: Link | None = None,
        preload: tuple[str, ...] = (),
        process: WorkerProcess | None = None,
        index: int = 0,
    ) -> None:
        """`link`: a lane of the shared WorkerProcess `process` (its `index`-th) to use until it
        breaks. `preload`: what a worker of our own imports up front (see WorkerProcess)."""
        self.limits = limits
        self.preload = preload
        self._shared = process
        self._own: WorkerProcess | None = None
        self._link = link
        self._index = index
        self._reader = wire.FrameReader()
        self._pending: list[protocol.LaneMessage] = []
        self._isolation: str | None = None  # what the lane said of it in its Ready
        self._counted_run = ""  # the run whose budget counters were read when it started

    @property
    def process(self) -> WorkerProcess | None:
        return self._own or self._shared

    @property
    def protections(self) -> str:
        """What holds for this lane's runs, for the report (said once the lane is ready)."""
        process = self.process
        if process is None:
            return "no worker"
        return process.describe(self._isolation or "")

    def _cgroups(self) -> LaneCgroups | None:
        process = self.process
        if process is None or process.cgroups is None:
            return None
        return process.cgroups.lanes[0 if self._own else self._index]

    def start(self) -> None:
        """Spawn our own worker, unless we have a lane, without waiting for it."""
        if self._link is None:
            self._own = WorkerProcess(self.limits, preload=self.preload)
            self._shared = None
            self._link = self._own.links[0]
            self._reader = wire.FrameReader()
            self._pending = []
            self._isolation = None

    def close(self) -> None:
        """Stop using the worker: kill our own, or let go of a shared lane."""
        link, self._link = self._link, None
        if self._own is not None:
            self._own.close()
            self._own = None
        elif link is not None:
            link.close()
            self._shared = None

    def _next_message(self, deadline: float) -> protocol.LaneMessage | None:
        """The next message from the lane, or None at the deadline."""
        assert self._link is not None
        fd = self._link.replies
        while not self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(fd, wire.PIPE_READ)
            if not chunk:
                raise wire.Unreadable("the worker process ended")
            self._pending += map(protocol.parse_lane_message, self._reader.feed(chunk))
        return self._pending.pop(0)

    def _send(self, job: Job, deadline: float) -> None:
        """Write a job without ever blocking past `deadline` (a stopped worker reads nothing)."""
        assert self._link is not None
        fd = self._link.commands
        view = memoryview(wire.dumps(job.encode()))
        while view:
            remaining = deadline - time.monotonic()
            _, writable, _ = select.select([], [fd], [], max(remaining, 0))
            if not writable:
                raise wire.Unreadable("the worker took no job")
            view = view[os.write(fd, view) :]

    def _await_ready(self, deadline: float) -> str | None:
        self.start()
        while self._isolation is None:
            message = self._next_message(deadline)
            if message is None:
                return "the worker did not start in time"
            if isinstance(message, Ready):
                self._isolation = message.isolation
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
    ) -> TaskOutcome:
        """Run one task on the learner's source within `seconds`.

        Tasks with the same `run` id share a run process that loaded the source once; another
        id gets a fresh one. `seed` seeds the run process's random state before the task.
        `imports` are modules the worker imports once, before forking, so that no run pays
        for them (torch.optim's first step imports torch._dynamo: seconds). The clock starts
        when the lane hands the task over.
        """
        start_deadline = time.monotonic() + self.limits.startup_seconds
        try:
            problem = self._await_ready(start_deadline)
        except (wire.Unreadable, OSError) as exc:
            problem = f"the worker failed to start: {exc}"
        if problem:
            self.close()
            return TaskOutcome(broken=problem)
        nonce = protocol.new_nonce()
        job = Job(nonce, run or nonce, source, filename, task, seconds, seed, list(imports))
        cgroups = self._cgroups()
        outcome = TaskOutcome()
        started = False
        deadline = start_deadline
        try:
            self._send(job, deadline)
            sent = time.monotonic()
            while True:
                message = self._next_message(deadline)
                if message is None:
                    self.close()
                    outcome.elapsed = time.monotonic() - sent
                    outcome.broken = "the worker did not " + (
                        "end the task in time" if started else "start the task in time"
                    )
                    return outcome
                if getattr(message, "nonce", None) != nonce:
                    continue  # stale: not about this task
                if isinstance(message, Started):
                    started = True
                    if cgroups is not None and job.run != self._counted_run:
                        cgroups.mark()  # once a run: its tasks share its budget
                        self._counted_run = job.run
                    # the lane enforces `seconds`, also on a task it starts again (once, on a
                    # fresh run process); past this it is stuck and is restarted
                    deadline = time.monotonic() + seconds + STUCK_SECONDS
                elif isinstance(message, Loaded):
                    outcome.loaded = True
                elif isinstance(message, Reply) and outcome.answer is None:
                    try:
                        outcome.answer = protocol.parse_answer(message.answer)
                    except wire.Unreadable as exc:
                        outcome.unreadable = str(exc)
                elif isinstance(message, Done):
                    # the lane's clock (ours), within what the judge saw pass
                    lane_clock = message.elapsed if message.elapsed >= 0 else 0.0  # NaN too
                    outcome.elapsed = min(lane_clock, time.monotonic() - sent)
                    return self._done(outcome, message, cgroups)
        except (wire.Unreadable, OSError) as exc:
            self.close()
            outcome.broken = f"the worker broke down ({exc})"
            return outcome

    @staticmethod
    def _done(outcome: TaskOutcome, done: Done, cgroups: LaneCgroups | None) -> TaskOutcome:
        outcome.timed_out = done.timed_out
        outcome.status = done.status
        outcome.output = done.output
        outcome.output_bytes = done.output_bytes
        outcome.refused = done.refused
        if done.broken:
            outcome.broken = f"the run could not be walled in ({done.broken})"
        if cgroups is not None and done.status != "running":
            outcome.usage = cgroups.usage()
            cgroups.mark()  # what comes next in this run is counted afresh
        return outcome


class SplitLane(Lane):
    """A lane where `preload` was imported, and a light lane forked before that import.

    Runs that need no imports go to the light lane, ready as soon as torch is imported;
    the others wait for the preload (torch._dynamo: a second more).
    """

    def __init__(self, light: Lane, *args: Any, **kwargs: Any) -> None:
        """`light`: the light lane; the rest as for Lane, for the lane with the preload."""
        super().__init__(*args, **kwargs)
        self.light = light

    def run(self, *args: Any, imports: tuple[str, ...] = (), **kwargs: Any) -> TaskOutcome:
        """Lane.run, on the lane `imports` (by keyword) call for."""
        if imports:
            return super().run(*args, imports=imports, **kwargs)
        return self.light.run(*args, **kwargs)

    @property
    def protections(self) -> str:
        return self.light.protections if self._isolation is None else super().protections

    def close(self) -> None:
        self.light.close()
        super().close()


class LanePool:
    """One worker process for several grading processes: torch is imported there once.

    Each grading process (forked after this is made) takes one of `lanes`. With a `preload`,
    each also gets a light lane that does not wait for it (SplitLane).
    """

    def __init__(
        self, limits: Limits, lanes: int, preload: tuple[str, ...] = (), runs: int = 1
    ) -> None:
        """`runs`: about how many grading runs the lanes will serve, all together."""
        light = lanes if preload else 0
        self.process = WorkerProcess(limits, lanes + light, preload, light, runs)
        links = self.process.links  # the first `light` of them are the light lanes'
        if light:
            self.lanes: list[Lane] = [
                SplitLane(
                    Lane(limits, links[index], process=self.process, index=index),
                    limits,
                    links[lanes + index],
                    process=self.process,
                    index=lanes + index,
                )
                for index in range(lanes)
            ]
        else:
            self.lanes = [
                Lane(limits, link, process=self.process, index=index)
                for index, link in enumerate(links)
            ]

    def close(self) -> None:
        self.process.close()
