"""Runs a kata's hidden pytest checks in this process; learner code runs in the worker.

This module never imports the learner's file. Checks reach the learner through
the `learner` fixture, a proxy whose calls become jobs in the worker and whose
results come back as plain data. A pytest plugin collects each check's verdict,
points and misconception tags into a Result.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import torch

from . import kit
from .catalog import CHECKS_DIR, Kata
from .lanes import Lane, TaskOutcome
from .results import CheckResult, Result, fingerprint
from .sandbox import Limits
from .worker import wire
from .worker.protocol import LoadFailed, Missing, Raised, TooLarge

# pytest runs quietly (our reporters speak), with plain asserts so a check's message is its own;
# the unraisable/thread-exception plugins are off: their gc passes at exit cost ~0.2 s a run;
# plugins the checks never use are off too, and none is loaded from what else is installed
# (xdist, anyio, ...: each would register its options and fixtures in every session)
UNUSED_PLUGINS = (
    *("cacheprovider", "terminal", "unraisableexception", "threadexception", "capture"),
    *("doctest", "junitxml", "pastebin", "legacypath", "stepwise", "logging", "skipping"),
    *("monkeypatch", "tmpdir", "setuponly", "setupplan", "faulthandler", "debugging"),
    *("recwarn", "unittest", "freeze_support", "subtests"),
)
PYTEST_ARGS = [
    *(arg for name in UNUSED_PLUGINS for arg in ("-p", f"no:{name}")),
    *("--disable-plugin-autoload", "--assert=plain"),
    *("--rootdir", str(CHECKS_DIR), "-c", os.devnull),
]
WORKER_BROKE = "could not run your code"  # the worker failed, not the learner's code
PRINTED_SHOWN = 600  # characters of the learner's printed output shown with a failure
# characters of one check's message: a diagnosis with the printed output fits many times over,
# and a whole result document stays far below 1 MB (Gradescope's limits are higher)
CHECK_OUTPUT = 6000


class InternalError(RuntimeError):
    """The grader itself is broken (a check failed to load): not the learner's fault."""


def read_submission(path: Path) -> tuple[str, str]:
    """The file's text, and why it cannot be graded ('' when it can)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return "", f"cannot read {path}: {exc.strerror or exc}"
    try:
        return data.decode("utf-8"), ""
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return "", (
            f"{path.name} is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}): "
            "save it with UTF-8 encoding"
        )


@dataclass
class GradingRun:
    """One grading run: the submission, the lane that runs it and the clock."""

    kata: Kata
    source: str
    filename: str
    problem: str
    lane: Lane
    limits: Limits
    seed: int
    started: float = field(default_factory=time.monotonic)
    run_id: str = field(default_factory=lambda: secrets.token_hex(8))
    results: list[CheckResult] = field(default_factory=list)

    @property
    def deadline(self) -> float:
        return self.started + self.limits.run_seconds


@dataclass(frozen=True)
class Submission:
    """Code to grade, the name the learner knows it by, and why it cannot run ('' if it can)."""

    source: str
    filename: str
    problem: str = ""


def _load_error_message(failed: LoadFailed) -> str:
    if failed.syntax is not None:
        text = failed.syntax.text
        pointer = f"\n    {text}" if text else ""
        return (
            f"your file has a syntax error on line {failed.syntax.line}: "
            f"{failed.syntax.message}{pointer}"
        )
    assert failed.error is not None
    return str(kit.LearnerRaised("importing your file", failed.error))


def _ran_out(outcome: TaskOutcome, limits: Limits) -> str:
    """Why the run's processes were killed, when its cgroup says it went over the budget."""
    usage = outcome.usage
    if usage is not None and usage.out_of_memory:
        return (
            f"went over the run's memory budget of {limits.budget.memory_bytes / 2**30:g} GiB "
            "(all the processes it started together) and was killed"
        )
    if usage is not None and usage.out_of_tasks:
        return (
            f"tried to start more than {limits.budget.tasks} processes and threads "
            "(the run's budget)"
        )
    return ""


class Learner:
    """The learner's module, as seen from a check: every call runs in the worker."""

    def __init__(self, session: GradingRun, seconds: float, seed: int) -> None:
        self._session = session
        self._seconds = seconds
        self._seed = seed  # the worker's random state for this check's calls
        self._used = 0.0  # time the learner's code ran in this check (not worker start-up)
        self._calls = 0
        self.printed = ""

    @property
    def source(self) -> str:
        """The learner's source text, for checks that read it (parsing only, never running)."""
        return self._session.source

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return partial(self.call, name)

    def call(
        self, name: str, *args: Any, forbid: kit.Forbidden | None = None, **kwargs: Any
    ) -> Any:
        """Call the learner's function `name` with plain-data arguments."""
        task = {
            "kind": "call",
            "name": name,
            "args": wire.to_data(list(args)),
            "kwargs": wire.to_data(kwargs),
            "forbid": list(forbid.ops) if forbid else [],
        }
        return self._run(task, f"{name}()", forbid)

    def scenario(
        self, name: str, *args: Any, forbid: kit.Forbidden | None = None, **kwargs: Any
    ) -> Any:
        """Run a trusted scenario from grader/worker/scenarios/<kata>.py on the learner's code."""
        task = {
            "kind": "scenario",
            "module": self._session.kata.name,
            "name": name,
            "args": wire.to_data(list(args)),
            "kwargs": wire.to_data(kwargs),
            "forbid": list(forbid.ops) if forbid else [],
        }
        return self._run(task, "your code", forbid)

    def _run(self, task: dict[str, Any], what: str, forbid: kit.Forbidden | None) -> Any:
        session = self._session
        if session.problem:
            raise kit.LearnerBroke(session.problem)
        if forbid is not None:  # decided from the source, before the code runs at all
            forbid.check(session.source, session.kata.id)
        run_left = session.deadline - time.monotonic()
        if run_left <= 0:
            raise kit.LearnerBroke(
                f"not run: the whole grading run hit its limit of {session.limits.run_seconds:g} s"
            )
        seconds = min(self._seconds - self._used, run_left)
        self._calls += 1
        outcome = session.lane.run(
            session.source,
            session.filename,
            task,
            seconds,
            imports=session.kata.worker_imports,  # imported once in the worker, not per run
            run=session.run_id,
            seed=self._seed + self._calls,
        )
        self._used += outcome.elapsed
        self.printed += outcome.output
        return self._interpret(outcome, what, forbid)

    def _interpret(self, outcome: TaskOutcome, what: str, forbid: kit.Forbidden | None) -> Any:
        session = self._session
        if outcome.timed_out and not outcome.loaded:
            # importing the file is the same in every check: the others need not wait again
            session.problem = (
                f"importing your file did not finish within {self._seconds:g} s: code at the "
                "top level of the file runs on import (an infinite loop there?)"
            )
            raise kit.LearnerTimedOut(session.problem)
        if outcome.timed_out:
            raise kit.LearnerTimedOut(
                f"{what} did not finish within the {self._seconds:g} s limit: an infinite loop, "
                "or far more work than needed?"
            )
        if outcome.broken:
            raise kit.LearnerBroke(f"{WORKER_BROKE}: {outcome.broken}")
        if outcome.refused:
            raise kit.LearnerBroke(f"{what} {outcome.refused}: that ends its process")
        if outcome.unreadable:
            raise kit.LearnerBroke(
                f"{what} returned something the grader cannot read: {outcome.unreadable}"
            )
        answer = outcome.answer
        if answer is None:
            cause = _ran_out(outcome, session.limits) or (
                f"ended its process without answering ({outcome.status}): "
                "sys.exit, os._exit or a crash"
            )
            if not outcome.loaded:
                session.problem = f"importing your file {cause}"
                raise kit.LearnerBroke(session.problem)
            raise kit.LearnerBroke(f"{what} {cause}")
        if isinstance(answer, LoadFailed):
            # importing the file fails the same way for every check: the others fail at once
            session.problem = _load_error_message(answer)
            raise kit.LearnerBroke(session.problem)
        if isinstance(answer, Missing):
            raise kit.LearnerMissing(
                f"your file does not define `{answer.name}`: keep the name and signature "
                "from the exercise"
            )
        if isinstance(answer, Raised):
            raise kit.LearnerRaised(what, answer.error)
        if isinstance(answer, TooLarge):
            raise kit.LearnerBroke(
                f"{what} returned {answer.size:,} bytes of data: far larger than the answer"
            )
        if forbid and answer.forbidden_used:  # the watch: a second layer, never the only one
            kit.fail(
                f"{what} calls {forbid.names} (aten::{', aten::'.join(answer.forbidden_used)} "
                f"ran): {session.kata.id} asks you to {forbid.task}.",
                forbid.misconception,
            )
        return answer.value


def _check_seed(run_seed: int, nodeid: str) -> int:
    digest = hashlib.sha256(f"{run_seed}:{nodeid}".encode()).digest()
    return int.from_bytes(digest[:6], "big")


INTERNAL = kit.Misconception("grader/internal-error", "Please report it: it is not your fault.")


def _failure(excinfo: pytest.ExceptionInfo[BaseException]) -> kit.Failure:
    exc = excinfo.value
    if isinstance(exc, kit.Failure):
        return exc
    if isinstance(exc, AssertionError):
        return kit.Failure(str(exc) or "a check failed")
    return kit.Failure(
        f"internal error in this check ({type(exc).__name__}: {wire.clip(exc, 500)})", INTERNAL
    )


class JudgePlugin:
    """Fixtures for the checks, the loop that runs them once per submission, and the
    collector of their verdicts. One pytest session serves every submission given: its
    start-up and the collection of the checks are paid once."""

    def __init__(self, kata: Kata, submissions: list[Submission], lane: Lane, seed: int) -> None:
        self.kata, self.submissions, self.lane, self.seed = kata, submissions, lane, seed
        self.collect_errors: list[str] = []
        self.graded: list[Result] = []
        self.session: GradingRun  # the submission being graded
        # the check being run, and its seed; the fixtures read them here rather than take
        # pytest's `request`, which pytest builds afresh for every check of every submission
        self.item: pytest.Item
        self.item_seed = 0

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool:
        """Every check on every submission; pytest re-runs an item on request (it resets
        the item's fixtures), and the last item of a submission tears everything down."""
        items = session.items
        if self.collect_errors or not items:
            return True  # reported by grade_sources
        seeds = {item.nodeid: _check_seed(self.seed, item.nodeid) for item in items}
        for submission in self.submissions:
            self.session = GradingRun(
                kata=self.kata,
                source=submission.source,
                filename=submission.filename,
                problem=submission.problem,
                lane=self.lane,
                limits=self.lane.limits,
                seed=self.seed,
            )
            for index, item in enumerate(items):
                if _LEARNER in item.stash:
                    del item.stash[_LEARNER]  # the proxy of an earlier submission
                nextitem = items[index + 1] if index + 1 < len(items) else None
                self.item, self.item_seed = item, seeds[item.nodeid]
                item.ihook.pytest_runtest_protocol(item=item, nextitem=nextitem)
            self.graded.append(
                Result(
                    kata=self.kata.name,
                    file=submission.filename,
                    seed=self.seed,
                    sandbox=self.lane.protections,
                    checks=self.session.results,
                    execution_time=time.monotonic() - self.session.started,
                    problem=submission.problem or self.session.problem,
                    fingerprint=fingerprint(submission.source),
                )
            )
        return True

    @pytest.fixture
    def learner(self) -> Learner:
        marker = self.item.get_closest_marker("seconds")
        seconds = float(marker.args[0]) if marker else self.session.limits.check_seconds
        proxy = Learner(self.session, seconds, self.item_seed + 2)
        self.item.stash[_LEARNER] = proxy
        return proxy

    @pytest.fixture
    def rng(self) -> torch.Generator:
        """A generator seeded from the run's seed and the check: replayable with --seed."""
        return torch.Generator().manual_seed(self.item_seed)

    @pytest.fixture(autouse=True)
    def _seeded(self) -> None:
        # the CPU generator only: torch.manual_seed also queues a seed (and a stack trace) per
        # device type, a millisecond a check, and the judge computes on the CPU alone
        torch.default_generator.manual_seed(self.item_seed + 1)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collect_errors.append(str(report.longrepr))

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> pytest.TestReport:
        """The check's verdict; the report stands in for pytest's, whose formatted traceback
        (tens of milliseconds for a failure) nobody reads here."""
        if call.when == "call" or (call.when == "setup" and call.excinfo is not None):
            self._record(item, call)
        outcome = "passed" if call.excinfo is None else "failed"
        return pytest.TestReport(
            item.nodeid, item.location, {}, outcome, None, call.when, (), call.duration
        )

    def _record(self, item: pytest.Item, call: pytest.CallInfo[None]) -> None:
        marker = item.get_closest_marker("points")
        doc = (getattr(item, "obj", None).__doc__ or "").strip().splitlines()
        result = CheckResult(
            name=doc[0] if doc else item.name,
            max_score=float(marker.args[0]) if marker else 1.0,
            check=item.name,
        )
        if call.excinfo is None:
            result.score = result.max_score
        else:
            failure = _failure(call.excinfo)
            problem = self.session.problem
            result.not_run = bool(problem) and problem in failure.message
            result.output = wire.clip(failure.message, CHECK_OUTPUT)
            if failure.misconception is not None:
                result.explanation = failure.misconception.explanation
            result.tags = list(failure.tags)
            proxy = item.stash.get(_LEARNER, None)
            if proxy is not None and proxy.printed.strip():
                shown = proxy.printed[:PRINTED_SHOWN]
                more = " ..." if len(proxy.printed) > PRINTED_SHOWN else ""
                result.output += f"\nyour code printed:\n{shown}{more}"
        self.session.results.append(result)


_LEARNER = pytest.StashKey[Learner]()


def grade(
    kata: Kata,
    path: Path,
    *,
    seed: int | None = None,
    lane: Lane | None = None,
) -> Result:
    """Grade the file at `path` as a submission for `kata` with the kata's hidden checks.

    `lane` may be shared between runs (its limits apply); one is made if none is given.
    """
    source, problem = read_submission(path)
    return grade_source(kata, source, str(path), problem=problem, seed=seed, lane=lane)


def grade_source(
    kata: Kata,
    source: str,
    filename: str,
    *,
    problem: str = "",
    seed: int | None = None,
    lane: Lane | None = None,
    only: str | None = None,
) -> Result:
    """Grade `source` (shown to the learner as `filename`); `only` runs just that one check."""
    submission = Submission(source, filename, problem)
    return grade_sources(kata, [submission], seed=seed, lane=lane, only=only)[0]


def grade_sources(
    kata: Kata,
    submissions: list[Submission],
    *,
    seed: int | None = None,
    lane: Lane | None = None,
    only: str | None = None,
) -> list[Result]:
    """Grade each submission for `kata`, one after another, in one pytest session.

    `lane` may be shared between runs (its limits apply); one is made if none is given.
    Every submission gets a fresh run process in the worker, as with one submission per call.
    """
    seed = secrets.randbelow(2**31) if seed is None else seed
    own_lane = lane is None
    lane = lane or Lane(Limits())
    plugin = JudgePlugin(kata, submissions, lane, seed)
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    torch.set_num_threads(1)  # the worker runs on one thread: same arithmetic, same results
    try:
        target = f"{kata.checks_path}::{only}" if only else str(kata.checks_path)
        pytest.main([target, *PYTEST_ARGS], plugins=[plugin])
    finally:
        if own_lane:
            lane.close()
    if plugin.collect_errors or any(not result.checks for result in plugin.graded):
        raise InternalError(
            f"the checks for {kata.name} did not load:\n" + "\n".join(plugin.collect_errors)
        )
    if len(plugin.graded) != len(submissions):
        raise InternalError(f"the checks for {kata.name} did not run")
    return plugin.graded
