"""The vocabulary of the hidden checks: failures, misconceptions and expectations.

A check calls the learner through the `learner` fixture, gets plain data back,
and states what it expects with the helpers here. Every helper checks the type
first, so a check never crashes on a wrong return value: the learner reads
"expected a torch.Tensor, got list", not our traceback.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Union

import pytest
import torch

from . import rules
from .rules import Rule
from .worker.protocol import ErrorInfo
from .worker.wire import Opaque, Unreadable

points = pytest.mark.points  # @points(2): what a check is worth
seconds = pytest.mark.seconds  # @seconds(60): a longer time limit for a slow check


TAMPERED = "the grader's scenario came back malformed: do not patch the grader"


@dataclass(frozen=True)
class Misconception:
    """A named mistake: the tag that goes into the JSON and the way out, in the learner's words."""

    tag: str
    explanation: str


class Failure(Exception):
    """A check failed; the message is written for the learner, and a misconception named in
    it brings its explanation (which a report shows once, however many checks it fails)."""

    def __init__(self, message: str, misconception: Misconception | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.misconception = misconception

    @property
    def tags(self) -> tuple[str, ...]:
        return (self.misconception.tag,) if self.misconception else ()


class LearnerRaised(Failure):
    """The learner's code raised an exception."""

    def __init__(self, what: str, error: ErrorInfo) -> None:
        self.error_type = error.type
        self.error_message = error.message
        where = "".join(f"\n    at {frame}" for frame in error.frames)
        if error.type == "NotImplementedError" and not error.message:
            super().__init__(
                f"{what} is not implemented yet (it raises NotImplementedError){where}"
            )
        else:
            super().__init__(f"{what} raised {self.error_type}: {self.error_message}{where}")


class LearnerMissing(Failure):
    """The learner's module does not define a name."""


class LearnerBroke(Failure):
    """The learner's file could not be run at all, or its process died or hung."""


class LearnerTimedOut(LearnerBroke):
    """The learner's code did not finish within the check's time limit."""


@dataclass(frozen=True)
class Forbidden:
    """Library calls a kata asks the learner not to use: decided from the source (`rule`),
    with a watch on the aten operators behind them as a second layer (`ops`)."""

    rule: Rule  # what the graded functions may not reach (grader/rules.py)
    names: str  # how the learner knows them, e.g. "F.cross_entropy / F.nll_loss"
    task: str  # what the kata asks instead, e.g. "write the loss yourself"
    misconception: Misconception
    ops: tuple[str, ...] = ()  # aten overload packet names watched while the code runs

    def check(self, source: str, kata: str) -> None:
        """Fail, naming the line, where the source breaks the rule."""
        found = rules.check(source, self.rule)
        if found:
            more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
            fail(f"{kata} asks you to {self.task}: {found[0]}{more}", self.misconception)


def expect_rule(source: str, rule: Rule, what: str, misconception: Misconception | None) -> None:
    """The source keeps `rule`: each finding named by its line (a learner's own words)."""
    found = rules.check(source, rule)
    if found:
        shown = "; ".join(str(f) for f in found[:3])
        more = f" (and {len(found) - 3} more)" if len(found) > 3 else ""
        fail(f"{what}: {shown}{more}", misconception)


# What a misconception's answer looks like: its value, a test on the answer, or several of these.
Oracle = Union[torch.Tensor, float, Callable[[Any], bool], tuple["Oracle", ...]]  # noqa: UP007


def fail(message: str, misconception: Misconception | None = None) -> None:
    raise Failure(message, misconception)


def expect(condition: bool, message: str, misconception: Misconception | None = None) -> None:
    if not condition:
        fail(message, misconception)


@contextmanager
def explain(misconception: Misconception, when: str) -> Iterator[None]:
    """Name the misconception when the learner's code raises an error matching `when`."""
    try:
        yield
    except LearnerRaised as exc:
        if re.search(when, exc.error_message):
            raise Failure(exc.message, misconception) from None
        raise


def type_name(value: Any) -> str:
    if isinstance(value, Opaque):
        return value.type_name
    return type(value).__name__


def fmt_shape(shape: Any) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def close(got: Any, want: torch.Tensor, rtol: float = 1e-4, atol: float = 1e-5) -> bool:
    """Whether `got` is a tensor of want's shape with close values (for oracles)."""
    if type(got) is not torch.Tensor or got.shape != want.shape:
        return False
    return bool(
        torch.allclose(
            got.detach().double(), want.detach().double(), rtol=rtol, atol=atol, equal_nan=True
        )
    )


def _matches(got: Any, oracle: Oracle) -> bool:
    if isinstance(oracle, tuple):
        return any(_matches(got, one) for one in oracle)
    if isinstance(oracle, torch.Tensor):
        return close(got, oracle)
    if callable(oracle):
        try:  # an oracle may not apply to this answer at all (wrong shape, wrong type)
            return bool(oracle(got))
        except Exception:
            return False
    return type(got) in (int, float) and math.isclose(got, oracle, rel_tol=1e-6, abs_tol=1e-9)


def diagnose(got: Any, wrong: Mapping[Misconception, Oracle]) -> Misconception | None:
    """The first misconception whose typical output the learner's answer matches."""
    return next((m for m, oracle in wrong.items() if _matches(got, oracle)), None)


def _fail_diagnosed(message: str, got: Any, wrong: Mapping[Misconception, Oracle]) -> None:
    fail(message, diagnose(got, wrong))


def expect_tensor(
    got: Any,
    want: torch.Tensor,
    what: str,
    *,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    wrong: Mapping[Misconception, Oracle] | None = None,
) -> torch.Tensor:
    """`got` is a plain torch.Tensor with want's dtype and shape and close values."""
    wrong = wrong or {}
    if type(got) is not torch.Tensor:
        _fail_diagnosed(f"{what} should return a torch.Tensor, got {type_name(got)}", got, wrong)
    if got.dtype != want.dtype:
        _fail_diagnosed(f"{what} should have dtype {want.dtype}, got {got.dtype}", got, wrong)
    if got.shape != want.shape:
        _fail_diagnosed(
            f"{what} should have shape {fmt_shape(want.shape)}, got {fmt_shape(got.shape)}",
            got,
            wrong,
        )
    got_d, want_d = got.detach(), want.detach()
    if want_d.is_floating_point():
        bad = ~torch.isfinite(got_d) & torch.isfinite(want_d)
        if bad.any():
            count = int(bad.sum())
            _fail_diagnosed(
                f"{what} has {count} non-finite value{'s' if count > 1 else ''} (nan or inf) "
                "where finite ones were expected",
                got,
                wrong,
            )
        close = torch.isclose(got_d, want_d, rtol=rtol, atol=atol, equal_nan=True)
    else:
        close = got_d == want_d
    if not bool(close.all()):
        _fail_diagnosed(f"{what} is wrong{_where_wrong(got_d, want_d, close)}", got, wrong)
    return got


def _where_wrong(got: torch.Tensor, want: torch.Tensor, close: torch.Tensor) -> str:
    """Where a tensor is wrong, in words: the value with the largest error (booleans: the first
    wrong one), and how many of them are wrong."""
    if want.dtype == torch.bool:
        index = tuple(int(i) for i in torch.nonzero(~close)[0])
        detail = f"{bool(got[index])} where {bool(want[index])} was expected"
    else:
        error = (got.double() - want.double()).abs().nan_to_num(math.inf, math.inf, math.inf)
        wrong_errors = error.masked_fill(close, -1.0)
        # the first of the largest errors (torch.unravel_index would import sympy: a second)
        index = tuple(int(i) for i in torch.nonzero(wrong_errors == wrong_errors.max())[0])
        detail = f"expected {want[index].item():.6g}, got {got[index].item():.6g}"
    if want.numel() == 1:
        return f": {detail}"
    wrong, total = int((~close).sum()), want.numel()
    at = ", ".join(map(str, index))
    if wrong == 1:
        return f" at [{at}]: {detail} (the only wrong value of {total})"
    largest = "" if want.dtype == torch.bool else "the largest error; "
    return f" at [{at}]: {detail} ({largest}{wrong} of {total} values are wrong)"


def expect_number(
    got: Any,
    want: float,
    what: str,
    *,
    rel: float = 1e-6,
    abs_: float = 1e-9,
    kind: type = float,
    wrong: Mapping[Misconception, Oracle] | None = None,
) -> float:
    """`got` is a Python number (int where kind is int) close to `want`."""
    wrong = wrong or {}
    allowed = (int,) if kind is int else (int, float)
    if type(got) not in allowed:
        hint = (
            " (call .item() to turn a one-element tensor into a number)"
            if type(got) is torch.Tensor
            else ""
        )
        _fail_diagnosed(
            f"{what} should return a Python {kind.__name__}, got {type_name(got)}{hint}", got, wrong
        )
    if not math.isclose(got, want, rel_tol=rel, abs_tol=abs_):
        _fail_diagnosed(f"{what}: expected {want:.6g}, got {got:.6g}", got, wrong)
    return got


def size(rng: torch.Generator, low: int = 2, high: int = 9) -> int:
    """A random dimension in [low, high]."""
    return int(torch.randint(low, high + 1, (), generator=rng))


def random_seed(rng: torch.Generator) -> int:
    """A seed for a model or generator that a check and a scenario both build from it."""
    return int(torch.randint(2**31, (), generator=rng))


def uniform(
    rng: torch.Generator, low: float, high: float, dtype: torch.dtype = torch.float32
) -> float:
    """A random float in [low, high)."""
    return low + (high - low) * float(torch.rand((), generator=rng, dtype=dtype))


def distinct_sizes(rng: torch.Generator, count: int, low: int = 2, high: int = 9) -> list[int]:
    """`count` different random dimensions, so a broadcasting bug cannot hide."""
    return [low + int(i) for i in torch.randperm(high - low + 1, generator=rng)[:count]]


def expect_loop_free(source: str, function: str, misconception: Misconception) -> None:
    """No Python loop, comprehension, map or recursion in `function` or anything it reaches
    (helpers, aliases, every binding of its name), read from the source."""
    rule = Rule((function,), loop_free=True)
    expect_rule(source, rule, f"{function} should work on whole tensors", misconception)


@contextmanager
def context(what: str) -> Iterator[None]:
    """Put the call and its inputs before a failure inside, e.g. "Affine(7, 4) on x (8, 7): ..."."""
    try:
        yield
    except Failure as exc:
        raise Failure(f"{what}: {exc.message}", exc.misconception) from None


def observed(seen: Any, kind: type, *keys: str, length: int | None = None) -> Any:
    """A scenario's reply of the shape the check reads: a `kind` (a dict holding `keys`; a list
    of `length` items, each a dict holding `keys` if any are named). Anything else means the
    submission tampered with the worker, and fails plainly instead of crashing the check."""
    problem = _malformed(seen, kind, keys, length)
    if problem:
        fail(f"{TAMPERED} ({problem})")
    return seen


def _malformed(seen: Any, kind: type, keys: tuple[str, ...], length: int | None) -> str:
    """What is wrong with a reply's shape, or "" when nothing is."""
    if type(seen) is not kind:
        return f"{type_name(seen)} where {kind.__name__} was expected"
    if length is not None and len(seen) != length:
        return f"{len(seen)} items where {length} were expected"
    if not keys:
        return ""
    for item in seen if kind in (list, tuple) else [seen]:
        if type(item) is not dict:
            return f"an item of type {type_name(item)} where a dict was expected"
        missing = [key for key in keys if key not in item]
        if missing:
            return f"no {missing[0]!r} in it"
    return ""


def value_and_grads(seen: Any, count: int) -> tuple[Any, list]:
    """The reply of the shared scenario value_and_grad (scenarios.common): the learner's value,
    and the gradient of each of the `count` arguments (None where none arrived)."""
    seen = observed(seen, dict, "value", "grads")
    return seen["value"], observed(seen["grads"], list, length=count)


def case_value(outcome: Any, what: str) -> Any:
    """One case of a many-case scenario (scenarios.common.outcome): its value, or the learner's
    exception in it raised as a failure of `what`."""
    outcome = observed(outcome, dict)
    if "raised" in outcome:
        raise learner_error(what, outcome["raised"])
    return observed(outcome, dict, "value")["value"]


def learner_error(what: str, described: Any) -> LearnerRaised:
    """The learner's exception as a scenario described it (runner.describe_exception)."""
    try:
        return LearnerRaised(what, ErrorInfo.from_tree(described))
    except Unreadable:
        raise Failure(TAMPERED) from None
