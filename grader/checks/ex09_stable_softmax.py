"""Hidden checks for ex09_stable_softmax: values over every dim, huge and -inf inputs, gradients.

The judge computes every expected value with PyTorch's own softmax, log_softmax and logsumexp
on the same input; the learner's code may use none of them (checked in the worker by the aten
operators that run).
"""

from collections.abc import Callable
from contextlib import suppress

import torch

from grader.kit import (
    Forbidden,
    Misconception,
    close,
    distinct_sizes,
    expect_tensor,
    explain,
    fail,
    fmt_shape,
    observed,
    points,
    size,
    value_and_grads,
)
from grader.rules import Rule

# the notebook's visible sanity test: torch and the kata's own names only
SANITY = """
import torch
torch.manual_seed(0)
x = torch.randn(2, 3, 4)
expected = torch.softmax(x, dim=1)
assert torch.allclose(softmax(x, dim=1), expected), "softmax(x, dim=1) should match torch.softmax"
big = torch.tensor([[1e4, 0.0, -1e4]])  # exp(1e4) overflows
assert torch.allclose(softmax(big), torch.tensor([[1.0, 0.0, 0.0]])), "softmax: overflow for 1e4"
assert torch.allclose(logsumexp(big), torch.tensor([1e4])), "logsumexp: overflow for 1e4"
expected = torch.log_softmax(big, dim=-1)
assert torch.allclose(log_softmax(big), expected), "log_softmax should stay finite for 1e4"
"""

NO_MAX_SHIFT = Misconception(
    "ex09/no-max-shift",
    "exp overflows to inf for inputs above about 88 (float32) and underflows to 0 below about "
    "-103, so the sum becomes inf or 0 and you get inf / inf = nan or log(0) = -inf. Subtract "
    "each slice's max first, m = x.amax(dim, keepdim=True): the result does not change, every "
    "exponent is <= 0 and the sum is >= 1. For logsumexp, add m back: m + log(sum(exp(x - m))).",
)
MISSING_KEEPDIM = Misconception(
    "ex09/missing-keepdim",
    "x.amax(dim) and x.sum(dim) drop `dim`, so when you subtract or divide by them, "
    "broadcasting lines the smaller result up with the wrong axes of x: a size error, or "
    "silently wrong numbers when sizes coincide. Pass keepdim=True so the reduced dim stays as "
    "size 1 and broadcasts along `dim` only.",
)
LOG_OF_SOFTMAX = Misconception(
    "ex09/log-of-softmax",
    "log(softmax(x)) is not stable: softmax underflows to exactly 0 for entries far below the "
    "max, and log(0) = -inf (with a nan gradient) where the true log-probability is a finite "
    "number such as -5000. Compute it from the shifted scores instead: "
    "(x - m) - log(sum(exp(x - m))), which is x - logsumexp(x).",
)
WRONG_DIM = Misconception(
    "ex09/wrong-dim",
    "your result is normalised over a different dim than `dim`. Use the `dim` argument in "
    "every reduction (the max and the sum), including negative values such as -2.",
)

FUNCTIONS = ("softmax", "log_softmax", "logsumexp")
FORBIDDEN_CALL = Misconception(
    "ex09/forbidden-call",
    "The point of this kata is to write softmax, log_softmax and logsumexp yourself, from max, "
    "exp, sum and log: torch's and F's softmax family (functions, tensor methods, modules, "
    "torch.special) is off limits, however it is reached.",
)
FORBID = Forbidden(
    rule=Rule(
        functions=FUNCTIONS,
        forbidden=(
            *("torch.softmax", "torch.log_softmax", "torch.logsumexp", "torch.logcumsumexp"),
            *("torch.nn.functional.softmax", "torch.nn.functional.log_softmax"),
            *("torch.nn.functional.softmin", "torch.special", "torch.nn.Softmax"),
            *("torch.nn.LogSoftmax", "torch.nn.Softmin", "torch.nn.Softmax2d"),
        ),
    ),
    names="torch/F softmax, log_softmax or logsumexp",
    task="write softmax, log_softmax and logsumexp yourself",
    misconception=FORBIDDEN_CALL,
    ops=("_softmax", "_log_softmax", "logsumexp", "logcumsumexp"),
)
SHAPE_ERROR = r"must match the size|size mismatch|shapes cannot"


def _reference(name: str, x: torch.Tensor, dim: int, keepdim: bool = False) -> torch.Tensor:
    if name == "softmax":
        return torch.softmax(x, dim)
    if name == "log_softmax":
        return torch.log_softmax(x, dim)
    return torch.logsumexp(x, dim, keepdim)


def _recipe(
    name: str,
    x: torch.Tensor,
    shift_dim: int | None,
    sum_dim: int,
    keep_shift: bool = True,
    keep_sum: bool = True,
) -> torch.Tensor:
    """`name` by shift, exp and sum with the given reductions: what a slip computes.
    For logsumexp, keep_sum is the caller's keepdim."""
    shift = torch.zeros(()) if shift_dim is None else x.amax(shift_dim, keepdim=keep_shift)
    shifted = x - shift
    total = shifted.exp().sum(sum_dim, keepdim=keep_sum)
    if name == "softmax":
        return shifted.exp() / total
    if name == "log_softmax":
        return shifted - total.log()
    if shift_dim is not None and keep_shift and not keep_sum:
        shift = shift.squeeze(shift_dim)
    return shift + total.log()


def _matches_any(answers: list[torch.Tensor]) -> Callable[[object], bool]:
    return lambda got: any(close(got, answer) for answer in answers)


def _answers(name: str, x: torch.Tensor, recipes: list[dict]) -> list[torch.Tensor]:
    answers = []
    for recipe in recipes:
        with suppress(RuntimeError):  # shapes that do not broadcast: the learner got an error
            answers.append(_recipe(name, x, **recipe))
    return answers


def _without_keepdim(name: str, x: torch.Tensor, dim: int, keepdim: bool) -> list[torch.Tensor]:
    """Answers with a max or sum that dropped `dim` but still broadcast against x."""
    if name == "logsumexp":
        return _answers(
            name, x, [dict(shift_dim=dim, sum_dim=dim, keep_shift=False, keep_sum=keepdim)]
        )
    slips = [(dim, False, True), (dim, True, False), (dim, False, False), (None, True, False)]
    recipes = [dict(shift_dim=s, sum_dim=dim, keep_shift=ks, keep_sum=kt) for s, ks, kt in slips]
    return _answers(name, x, recipes)


def _over_other_dims(name: str, x: torch.Tensor, dim: int, keepdim: bool) -> list[torch.Tensor]:
    """Answers computed, wholly or in part, over a dim other than `dim`."""
    others = [k for k in range(x.dim()) if k != dim % x.dim()]
    answers = [_reference(name, x, k, keepdim) for k in others]
    if name != "logsumexp":
        mixed = [dict(shift_dim=k, sum_dim=dim) for k in others]
        answers += _answers(name, x, mixed + [dict(shift_dim=dim, sum_dim=k) for k in others])
    return answers


def _diagnoses(name: str, x: torch.Tensor, dim: int, keepdim: bool) -> dict:
    return {
        MISSING_KEEPDIM: _matches_any(_without_keepdim(name, x, dim, keepdim)),
        WRONG_DIM: _matches_any(_over_other_dims(name, x, dim, keepdim)),
    }


def _kwargs(name: str, dim: int, keepdim: bool) -> dict:
    return {"dim": dim, "keepdim": keepdim} if name == "logsumexp" else {"dim": dim}


def _shown(name: str, kwargs: dict) -> str:
    """How the call reads in a message: softmax(x, dim=-2)."""
    return f"{name}(x, {', '.join(f'{k}={v}' for k, v in kwargs.items())})"


def _cases(rng: torch.Generator) -> list[tuple[list[int], int]]:
    """Every dim of a 3-D x in random order, written as d or d - 3; the last x is a cube,
    where a forgotten keepdim broadcasts silently."""
    sizes = distinct_sizes(rng, 3, high=7)
    order = torch.randperm(3, generator=rng).tolist()
    negative = torch.randint(2, (3,), generator=rng).tolist()
    shapes = [sizes, sizes[::-1], [sizes[0]] * 3]
    return [(shape, d - 3 * n) for shape, d, n in zip(shapes, order, negative, strict=True)]


def _check_every_dim(learner, rng: torch.Generator, name: str) -> None:
    keepdims = [bool(torch.randint(2, (), generator=rng))] * 3
    keepdims[1] = not keepdims[0]  # logsumexp sees both keepdim=False and keepdim=True
    for (shape, dim), keepdim in zip(_cases(rng), keepdims, strict=True):
        x = torch.randn(shape, generator=rng) * 3
        kwargs = _kwargs(name, dim, keepdim)
        with explain(MISSING_KEEPDIM, when=SHAPE_ERROR):
            got = learner.call(name, x, forbid=FORBID, **kwargs)
        expect_tensor(
            got,
            _reference(name, x, dim, keepdim),
            f"{_shown(name, kwargs)} for x of shape {fmt_shape(shape)}",
            rtol=1e-4,
            atol=1e-5,
            wrong=_diagnoses(name, x, dim, keepdim),
        )


@points(2)
def test_softmax_every_dim(learner, rng):
    """softmax matches torch.softmax over every dim"""
    _check_every_dim(learner, rng, "softmax")


@points(2)
def test_log_softmax_every_dim(learner, rng):
    """log_softmax matches torch.log_softmax over every dim"""
    _check_every_dim(learner, rng, "log_softmax")


@points(2)
def test_logsumexp_every_dim(learner, rng):
    """logsumexp matches torch.logsumexp over every dim, with and without keepdim"""
    _check_every_dim(learner, rng, "logsumexp")


def _huge_scores(rng: torch.Generator) -> torch.Tensor:
    """(2R, C) scores up to 1e4 in size: R rows spread over [-1e4, 1e4] (exp overflows and
    underflows, softmax is nearly one-hot), then R rows of close scores near +-5e3..1e4."""
    rows, cols = size(rng, 4, 6), size(rng, 2, 9)
    spread = (torch.rand(rows, cols, generator=rng) * 2 - 1) * 1e4
    sign = torch.where(torch.arange(rows) % 2 == 0, 1.0, -1.0)[:, None]  # both signs for sure
    offset = sign * (5e3 + 4.9e3 * torch.rand(rows, 1, generator=rng))
    return torch.cat([spread, offset + 3 * torch.randn(rows, cols, generator=rng)])


def _neg_inf_where_finite(got: object, want: torch.Tensor) -> bool:
    """-inf where the answer is finite, and right elsewhere: the signature of log(softmax)."""
    if type(got) is not torch.Tensor or got.shape != want.shape:
        return False
    finite = torch.isfinite(got)
    return bool(
        torch.isneginf(got).any()
        and torch.isneginf(got[~finite]).all()
        and torch.allclose(got[finite].double(), want[finite].double(), rtol=1e-3, atol=1e-3)
    )


def _not_finite(got: object) -> bool:
    return type(got) is torch.Tensor and not bool(torch.isfinite(got).all())


# x - m is exact in float32, but x - logsumexp(x) rounds near 1e4 (about 1e-3): allow for it
HUGE_TOLERANCE = {
    "softmax": {"rtol": 2e-3, "atol": 1e-6},
    "log_softmax": {"rtol": 1e-5, "atol": 5e-3},
    "logsumexp": {"rtol": 1e-5, "atol": 5e-3},
}


@points(2)
def test_huge_scores(learner, rng):
    """all three stay finite and right for scores up to 1e4 in size"""
    x = _huge_scores(rng)
    for name in FUNCTIONS:
        with explain(MISSING_KEEPDIM, when=SHAPE_ERROR):
            got = learner.call(name, x, forbid=FORBID)
        want = _reference(name, x, -1)
        wrong = {NO_MAX_SHIFT: _not_finite}
        if name == "log_softmax":
            wrong = {LOG_OF_SOFTMAX: lambda g, want=want: _neg_inf_where_finite(g, want), **wrong}
        expect_tensor(
            got,
            want,
            f"{name}(x) for x of shape {fmt_shape(x.shape)} with entries up to 1e4 in size",
            wrong=wrong,
            **HUGE_TOLERANCE[name],
        )


def _check_value_and_grad(
    learner,
    rng: torch.Generator,
    name: str,
    x: torch.Tensor,
    dim: int,
    keepdim: bool,
    what: str,
    grad_wrong: dict | None = None,
    **tolerance: float,
) -> None:
    """The learner's value and x's gradient match PyTorch's on the same input."""
    kwargs = _kwargs(name, dim, keepdim)
    leaf = x.clone().requires_grad_()
    want = _reference(name, leaf, dim, keepdim)
    what = f"{_shown(name, kwargs)} for {what}"
    with explain(MISSING_KEEPDIM, when=SHAPE_ERROR):
        if name == "logsumexp":  # the gradient of the sum is the softmax: worth checking
            want.sum().backward()
            seen = learner.scenario(
                "value_and_grad", name, x.clone().requires_grad_(), forbid=FORBID, **kwargs
            )
            value, (grad,) = value_and_grads(seen, 1)
        else:  # a plain sum of softmax is constant: weight the outputs
            weights = torch.randn(x.shape, generator=rng, dtype=x.dtype)
            (want * weights).sum().backward()
            seen = learner.scenario(
                "weighted_backward",
                name,
                x.clone().requires_grad_(),
                weights,
                forbid=FORBID,
                **kwargs,
            )
            seen = observed(seen, dict, "value", "grad")
            value, grad = seen["value"], seen["grad"]
    wrong = _diagnoses(name, x, dim, keepdim)
    expect_tensor(value, want.detach(), what, wrong=wrong, **tolerance)
    if grad is None:
        fail(
            f"{what}: no gradient reached x. Keep every step a torch operation on x "
            "(no .item(), .tolist(), numpy, torch.no_grad() or .detach() of the result)."
        )
    expect_tensor(grad, leaf.grad, f"the gradient of {what}", wrong=grad_wrong, **tolerance)


@points(1)
def test_neg_inf_entries(learner, rng):
    """entries equal to -inf get probability 0, with finite gradients"""
    (shape, dim), _, _ = _cases(rng)
    x = torch.randn(shape, generator=rng) * 3
    masked = torch.rand(shape, generator=rng) < 0.4
    kept = torch.randint(shape[dim], [*shape[: dim % 3], 1, *shape[dim % 3 + 1 :]], generator=rng)
    masked.scatter_(dim, (kept + 1) % shape[dim], True)  # every slice has a -inf...
    masked.scatter_(dim, kept, False)  # ... and a finite score
    x = x.masked_fill(masked, float("-inf"))

    def nan_at_masked(grad: torch.Tensor) -> bool:
        return bool(grad[masked].isnan().any())

    for name in FUNCTIONS:
        keepdim = bool(torch.randint(2, (), generator=rng))
        _check_value_and_grad(
            learner,
            rng,
            name,
            x,
            dim,
            keepdim,
            f"x of shape {fmt_shape(shape)} with some -inf entries",
            grad_wrong={LOG_OF_SOFTMAX: nan_at_masked} if name == "log_softmax" else None,
            rtol=1e-4,
            atol=1e-5,
        )


@points(1)
def test_gradients(learner, rng):
    """gradients match PyTorch's, and float64 stays float64"""
    for name in FUNCTIONS:
        (shape, dim), _, _ = _cases(rng)
        keepdim = bool(torch.randint(2, (), generator=rng))
        x = torch.randn(shape, generator=rng, dtype=torch.float64) * 3
        what = f"float64 x of shape {fmt_shape(shape)}"
        _check_value_and_grad(learner, rng, name, x, dim, keepdim, what)
