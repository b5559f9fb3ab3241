"""Runs a kata's hidden pytest checks in this process; learner code runs in the worker.

This module never imports the learner's file. Checks reach the learner through
the `learner` fixture, a proxy whose calls become jobs in the worker and whose
results come back as plain data. A pytest plugin collects each check's verdict,
points and misconception tags into a Result.
"""

from __future__ import annotations

import hashlib
import os
import queue
import secrets
import threading
import time
from collections.abc import Callable, Iterable
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
    """Fixtures for the checks, the loop that runs them and the collector of their verdicts.

    Once the session has collected its check files, pytest's run loop hands the plugin to
    `serve`, which grades through `grade` as often as it likes: pytest's start-up and the
    collection are paid once for every submission, and every kata, graded in that session.
    """

    def __init__(self, serve: Callable[[JudgePlugin], None]) -> None:
        self.serve = serve
        self.items: dict[str, list[pytest.Item]] = {}  # each kata's checks, by kata name
        self.collect_errors: dict[str, list[str]] = {}  # by kata name ('' for none)
        self.session: GradingRun  # the submission being graded
        # the check being run, and its seed; the fixtures read them here rather than take
        # pytest's `request`, which pytest builds afresh for every check of every submission
        self.item: pytest.Item
        self.item_seed = 0

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool:
        for item in session.items:
            self.items.setdefault(item.path.stem, []).append(item)
        self.serve(self)
        return True

    def grade(
        self, kata: Kata, submissions: list[Submission], lane: Lane, seed: int
    ) -> list[Result]:
        """Every check of `kata` on every submission, each in a run of its own; pytest re-runs
        an item on request (it resets the item's fixtures), and the last item of a
        submission tears everything down."""
        items = self.items.get(kata.name, [])
        errors = self.collect_errors.get(kata.name, []) + self.collect_errors.get("", [])
        if errors or not items:
            raise InternalError(f"the checks for {kata.name} did not load:\n" + "\n".join(errors))
        seeds = {item.nodeid: _check_seed(seed, item.nodeid) for item in items}
        graded = []
        for submission in submissions:
            self.session = GradingRun(
                kata=kata,
                source=submission.source,
                filename=submission.filename,
                problem=submission.problem,
                lane=lane,
                limits=lane.limits,
                seed=seed,
            )
            for index, item in enumerate(items):
                if _LEARNER in item.stash:
                    del item.stash[_LEARNER]  # the proxy of an earlier submission
                nextitem = items[index + 1] if index + 1 < len(items) else None
                self.item, self.item_seed = item, seeds[item.nodeid]
                item.ihook.pytest_runtest_protocol(item=item, nextitem=nextitem)
            if not self.session.results:
                raise InternalError(f"the checks for {kata.name} did not run")
            graded.append(
                Result(
                    kata=kata.name,
                    file=submission.filename,
                    seed=seed,
                    sandbox=lane.protections,
                    checks=self.session.results,
                    execution_time=time.monotonic() - self.session.started,
                    problem=submission.problem or self.session.problem,
                    fingerprint=fingerprint(submission.source),
                )
            )
        return graded

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
            kata = Path(report.nodeid.split("::")[0]).stem if report.nodeid.endswith(".py") else ""
            self.collect_errors.setdefault(kata, []).append(str(report.longrepr))

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
    """Grade each submission for `kata`, one after another, in one pytest session (the
    process's open session, if it has one with kata's checks; else one of its own).

    `lane` may be shared between runs (its limits apply); one is made if none is given.
    Every submission gets a fresh run process in the worker, as with one submission per call.
    """
    seed = secrets.randbelow(2**31) if seed is None else seed
    own_lane = lane is None
    lane = lane or Lane(Limits())
    try:
        if only is None and _open is not None and kata.name in _open.katas:
            graded = _open.grade(kata, submissions, lane, seed)
            if graded is not None:
                return graded
        target = f"{kata.checks_path}::{only}" if only else str(kata.checks_path)
        outcome: list[list[Result] | BaseException] = []
        _session([target], partial(_grade_into, outcome, kata, submissions, lane, seed))
    finally:
        if own_lane:
            lane.close()
    if not outcome:
        raise InternalError(f"the checks for {kata.name} did not run")
    return _results(outcome)


def _grade_into(
    outcome: list[list[Result] | BaseException],
    kata: Kata,
    submissions: list[Submission],
    lane: Lane,
    seed: int,
    plugin: JudgePlugin,
) -> None:
    """plugin.grade, its results or its exception put in `outcome` (pytest would swallow
    an exception from its run loop)."""
    try:
        outcome.append(plugin.grade(kata, submissions, lane, seed))
    except BaseException as exc:  # raised again outside pytest
        outcome.append(exc)


def _results(outcome: list[list[Result] | BaseException]) -> list[Result]:
    """What _grade_into put in `outcome`: its results, or its exception raised again here."""
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


def _session(targets: list[str], serve: Callable[[JudgePlugin], None]) -> None:
    """A pytest session over `targets` whose run loop is `serve`."""
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    torch.set_num_threads(1)  # the worker runs on one thread: same arithmetic, same results
    # a check file that does not load fails its kata's grade (JudgePlugin.grade), not others
    args = [*targets, *PYTEST_ARGS, "--continue-on-collection-errors"]
    pytest.main(args, plugins=[JudgePlugin(serve)])


class OpenSession:
    """A pytest session kept open, in a thread of its own, that grades any of `katas`.

    A grading process that grades many katas (`grade` of all of them, `grade batch`) pays
    pytest's start-up (25 ms) and the collection of each check file once, not once a kata.
    The calling thread waits while the session's thread grades: only one of them runs.
    """

    def __init__(self, katas: Iterable[Kata]) -> None:
        chosen = sorted(set(katas), key=lambda kata: kata.number)
        self.katas = frozenset(kata.name for kata in chosen)
        self._work: queue.SimpleQueue[tuple[Kata, list[Submission], Lane, int] | None]
        self._work = queue.SimpleQueue()
        self._done: queue.SimpleQueue[list[list[Result] | BaseException] | None]
        self._done = queue.SimpleQueue()
        self._ended = False
        targets = [str(kata.checks_path) for kata in chosen]
        threading.Thread(target=self._run, args=(targets,), daemon=True).start()

    def _run(self, targets: list[str]) -> None:
        try:
            _session(targets, self._serve)
        finally:
            self._ended = True
            self._done.put(None)  # a grade waiting for it goes on without the session

    def _serve(self, plugin: JudgePlugin) -> None:
        while (work := self._work.get()) is not None:
            outcome: list[list[Result] | BaseException] = []
            _grade_into(outcome, *work, plugin)
            self._done.put(outcome)

    def grade(
        self, kata: Kata, submissions: list[Submission], lane: Lane, seed: int
    ) -> list[Result] | None:
        """JudgePlugin.grade, in the open session; None if the session has ended."""
        if self._ended:
            return None
        self._work.put((kata, submissions, lane, seed))
        outcome = self._done.get()
        return None if outcome is None else _results(outcome)

    def close(self) -> None:
        """End the session (its thread finishes pytest's session and ends)."""
        self._work.put(None)


_open: OpenSession | None = None  # this process's open session, if it has one


def open_session(katas: Iterable[Kata]) -> None:
    """From now on, this process grades `katas` in one pytest session kept open."""
    global _open
    _open = OpenSession(katas)
