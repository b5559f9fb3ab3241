"""Hidden checks for ex03_gather_nll: differential against torch's own losses, in the judge."""

from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F

from grader.kit import (
    Forbidden,
    LearnerRaised,
    Misconception,
    close,
    distinct_sizes,
    expect,
    expect_tensor,
    explain,
    fail,
    points,
    size,
    type_name,
    value_and_grads,
)
from grader.rules import Rule

# the notebook's visible sanity test: torch and the kata's own names only
SANITY = """
import torch
import torch.nn.functional as F
torch.manual_seed(0)
logits, targets = torch.randn(4, 3), torch.tensor([0, 2, 1, 2])  # N = 4 rows, C = 3 classes
log_probs = F.log_softmax(logits, dim=1)
expected = F.nll_loss(log_probs, targets)
assert torch.allclose(nll_loss(log_probs, targets), expected), "nll_loss should match F.nll_loss"
assert nll_loss(log_probs, targets, "none").shape == (4,), "'none' should give (N,) losses"
expected = F.cross_entropy(logits, targets)
assert torch.allclose(cross_entropy(logits, targets), expected), "should match F.cross_entropy"
"""

LOG_OF_SOFTMAX = Misconception(
    "ex03/log-of-softmax",
    "log(softmax(x)) is not stable: with large logits the small probabilities round to 0 and "
    "log(0) = -inf (and exp of a large logit overflows to inf), so the loss becomes inf or nan. "
    "Use logits.log_softmax(-1), which computes x - logsumexp(x) without overflow.",
)
GATHER_WRONG_DIM = Misconception(
    "ex03/gather-wrong-dim",
    "gather along dim 0 picks log_probs[targets[i], ...]: rows chosen by class numbers. Each row "
    "needs its own class, along the class dim: log_probs.gather(1, targets[:, None]).squeeze(1).",
)
MISSING_MINUS = Misconception(
    "ex03/missing-minus",
    "Log-probabilities are <= 0, so the loss is their NEGATIVE: -log_probs[i, targets[i]] is "
    "small when the right class is likely, and minimising it makes that class more likely.",
)
SUM_NOT_MEAN = Misconception(
    "ex03/sum-not-mean",
    'reduction="mean" divides the sum of the losses by how many there are (the positions not '
    "ignored); you returned the plain sum.",
)
LEADING_DIMS = Misconception(
    "ex03/leading-dims",
    "logits may have any leading dims, (B, T, V) or more, with targets (B, T): flatten them to "
    "one row per position, logits.reshape(-1, C) and targets.reshape(-1), do the 2-D lookup, and "
    'for reduction="none" reshape the losses back to targets.shape.',
)
SOFTMAX_WRONG_DIM = Misconception(
    "ex03/softmax-wrong-dim",
    "The classes are the LAST dim here (F.cross_entropy wants them at dim 1, this function does "
    "not): normalise each position over its classes with log_softmax(dim=-1).",
)
IGNORED_IN_MEAN = Misconception(
    "ex03/ignored-in-mean",
    "The mean is over the positions that are NOT ignored: divide the sum by "
    "(targets != ignore_index).sum(), not by targets.numel().",
)
IGNORED_NOT_MASKED = Misconception(
    "ex03/ignored-not-masked",
    "Positions whose target equals ignore_index must cost nothing. ignore_index need not be a "
    "class (-100 cannot be gathered) and may be any value, even a class number: build "
    "keep = targets != ignore_index, gather at a safe index where not kept "
    "(targets.where(keep, 0)) and zero those losses.",
)

FORBIDDEN_CALL = Misconception(
    "ex03/forbidden-call",
    "The point of this kata is to write the loss yourself, with log_softmax and gather: "
    "F.cross_entropy, F.nll_loss, nn.CrossEntropyLoss and nn.NLLLoss are off limits, however "
    "they are reached.",
)
FORBIDDEN = Forbidden(
    rule=Rule(
        functions=("nll_loss", "cross_entropy"),
        forbidden=(
            *("torch.nn.functional.cross_entropy", "torch.nn.functional.nll_loss"),
            *("torch.nn.CrossEntropyLoss", "torch.nn.NLLLoss"),
        ),
    ),
    names="F.cross_entropy / F.nll_loss / nn.CrossEntropyLoss / nn.NLLLoss",
    task="write the loss yourself",
    misconception=FORBIDDEN_CALL,
    ops=("nll_loss_forward", "nll_loss2d_forward"),
)
REDUCTIONS = ("none", "mean", "sum")
GATHER_DIM_ERROR = r"out of bounds for dimension 0|Size does not match at dimension 1"
SHAPE_ERROR = (
    r"out of bounds for dimension [1-9]|same number of dimensions|could not be broadcast"
    r"|Size does not match|values to unpack|shape .* is invalid for input"
)


def _reduced(losses: torch.Tensor, reduction: str) -> torch.Tensor:
    return {"none": losses, "mean": losses.mean(), "sum": losses.sum()}[reduction]


def _torch_ce(logits, targets, reduction, ignore_index=-100):
    """torch's answer with the classes last: F.cross_entropy on one row per position."""
    out = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]),
        targets.reshape(-1),
        reduction=reduction,
        ignore_index=ignore_index,
    )
    return out.reshape(targets.shape) if reduction == "none" else out


def _torch_nll(log_probs, targets, reduction, ignore_index=-100):
    """torch's NLL with the classes last, for log-probabilities of any leading shape."""
    out = F.nll_loss(
        log_probs.reshape(-1, log_probs.shape[-1]),
        targets.reshape(-1),
        reduction=reduction,
        ignore_index=ignore_index,
    )
    return out.reshape(targets.shape) if reduction == "none" else out


def _wrong_dim(log_probs, targets, reduction):
    """What gathering along dim 0 gives, in its two usual spellings (where it runs at all)."""
    rows = torch.arange(len(targets))
    return (
        lambda g: close(g, _reduced(-log_probs[targets, 0], reduction)),  # gather(0, t[:, None])
        lambda g: close(g, _reduced(-log_probs[targets, rows], reduction)),  # gather(0, t[None])
    )


def _common_mistakes(want, want_sum, reduction):
    wrong = {MISSING_MINUS: -want}
    if reduction == "mean":
        wrong[SUM_NOT_MEAN] = want_sum
    return wrong


def _expect_loss(got, want, what, atol=1e-5, wrong=None) -> None:
    """The learner's losses (or gradients) equal torch's to float32 rounding."""
    expect_tensor(got, want, what, rtol=1e-4, atol=atol, wrong=wrong)


def _log_probs(rng, rows, classes):
    return (torch.randn(rows, classes, generator=rng) * 2).log_softmax(-1)


def _targets(rng, classes, *shape):
    return torch.randint(0, classes, shape, generator=rng)


@points(2)
def test_nll_loss_picks_the_target(learner, rng):
    """nll_loss(reduction="none") is -log_probs[i, targets[i]] for every row"""
    rows, classes = distinct_sizes(rng, 2)
    for n, c in [(rows, classes), (classes, classes)]:  # square: a wrong gather dim hides there
        log_probs, targets = _log_probs(rng, n, c), _targets(rng, c, n)
        with explain(GATHER_WRONG_DIM, when=GATHER_DIM_ERROR):
            got = learner.nll_loss(log_probs, targets, reduction="none", forbid=FORBIDDEN)
        want = F.nll_loss(log_probs, targets, reduction="none")
        _expect_loss(
            got,
            want,
            f'nll_loss(reduction="none") of ({n}, {c}) log_probs',
            wrong={MISSING_MINUS: -want, GATHER_WRONG_DIM: _wrong_dim(log_probs, targets, "none")},
        )


@points(1)
def test_nll_loss_mean_and_sum(learner, rng):
    """nll_loss reduces with "mean" (the default) and "sum" to a 0-dim tensor"""
    n = size(rng)
    log_probs, targets = _log_probs(rng, n, n), _targets(rng, n, n)
    want_sum = F.nll_loss(log_probs, targets, reduction="sum")
    calls = [("mean", {}), ("mean", {"reduction": "mean"}), ("sum", {"reduction": "sum"})]
    for reduction, kwargs in calls:
        with explain(GATHER_WRONG_DIM, when=GATHER_DIM_ERROR):
            got = learner.nll_loss(log_probs, targets, forbid=FORBIDDEN, **kwargs)
        want = F.nll_loss(log_probs, targets, reduction=reduction)
        _expect_loss(
            got,
            want,
            f'nll_loss(reduction="{reduction}") of ({n}, {n}) log_probs',
            wrong={
                **_common_mistakes(want, want_sum, reduction),
                GATHER_WRONG_DIM: _wrong_dim(log_probs, targets, reduction),
            },
        )


def _expect_value_error(call, what: str) -> None:
    try:
        got = call()
    except LearnerRaised as exc:
        expect(
            exc.error_type == "ValueError",
            f"{what} raised {exc.error_type} ({exc.error_message}); it should raise ValueError",
        )
        return
    fail(f"{what} returned a {type_name(got)}: an unknown reduction should raise ValueError")


@points(1)
def test_unknown_reduction_raises(learner, rng):
    """an unknown reduction raises ValueError"""
    n = size(rng)
    log_probs, targets = _log_probs(rng, n, n), _targets(rng, n, n)
    got = learner.nll_loss(log_probs, targets, reduction="sum", forbid=FORBIDDEN)
    expect(  # raising ValueError for every reduction earns nothing
        type(got) is torch.Tensor,
        f'nll_loss(reduction="sum") should return a torch.Tensor, got {type_name(got)}',
    )
    _expect_value_error(
        lambda: learner.nll_loss(log_probs, targets, reduction="average", forbid=FORBIDDEN),
        'nll_loss(reduction="average")',
    )
    _expect_value_error(
        lambda: learner.cross_entropy(log_probs, targets, reduction="batchmean", forbid=FORBIDDEN),
        'cross_entropy(reduction="batchmean")',
    )


@points(1)
def test_cross_entropy_matches_torch(learner, rng):
    """cross_entropy of (N, C) logits equals F.cross_entropy in every reduction"""
    rows, classes = distinct_sizes(rng, 2)
    for n, c in [(rows, classes), (classes, classes)]:
        logits, targets = torch.randn(n, c, generator=rng) * 3, _targets(rng, c, n)
        log_probs = logits.log_softmax(-1)
        want_sum = F.cross_entropy(logits, targets, reduction="sum")
        for reduction in REDUCTIONS:
            with explain(GATHER_WRONG_DIM, when=GATHER_DIM_ERROR):
                got = learner.cross_entropy(logits, targets, reduction=reduction, forbid=FORBIDDEN)
            want = F.cross_entropy(logits, targets, reduction=reduction)
            _expect_loss(
                got,
                want,
                f'cross_entropy(reduction="{reduction}") of ({n}, {c}) logits',
                wrong={
                    **_common_mistakes(want, want_sum, reduction),
                    GATHER_WRONG_DIM: _wrong_dim(log_probs, targets, reduction),
                    SOFTMAX_WRONG_DIM: _torch_nll(logits.log_softmax(0), targets, reduction),
                },
            )


@points(1)
def test_cross_entropy_leading_dims(learner, rng):
    """cross_entropy takes (B, T, V) logits (and more leading dims), classes last"""
    batch, time, vocab, extra = distinct_sizes(rng, 4)
    for shape in [(batch, time, vocab), (extra, batch, time, vocab)]:
        logits, targets = torch.randn(*shape, generator=rng) * 3, _targets(rng, vocab, *shape[:-1])
        want_sum = _torch_ce(logits, targets, "sum")
        for reduction in ("none", "mean"):
            with explain(LEADING_DIMS, when=SHAPE_ERROR):
                got = learner.cross_entropy(logits, targets, reduction=reduction, forbid=FORBIDDEN)
            want = _torch_ce(logits, targets, reduction)
            _expect_loss(
                got,
                want,
                f'cross_entropy(reduction="{reduction}") of {tuple(shape)} logits',
                wrong={
                    **_common_mistakes(want, want_sum, reduction),
                    LEADING_DIMS: _unflattened(logits, targets, reduction),
                    SOFTMAX_WRONG_DIM: _torch_nll(logits.log_softmax(1), targets, reduction),
                },
            )


def _unflattened(logits, targets, reduction, ignore_index=-100):
    """What skipping the flattening gives where it runs at all: "none" losses left (N,), or
    the 2-D lookup gather(1, targets[:, None]) run on (B, T, V) log-probabilities."""
    keep = targets != ignore_index

    def lookup_2d(got) -> bool:
        picked = logits.log_softmax(-1).gather(1, targets.where(keep, 0)[:, None]).squeeze(1)
        losses = -picked * keep
        if reduction == "mean":  # over the positions kept
            return close(got, losses.sum() / keep.sum())
        return close(got, _reduced(losses, reduction))

    return (lambda g: g.shape == (targets.numel(),), lookup_2d)


def _padded_batch(rng, ignore_index):
    """(B, T, V) logits and (B, T) targets with some positions (never all) set to ignore_index."""
    batch, time, vocab = distinct_sizes(rng, 3)
    logits = torch.randn(batch, time, vocab, generator=rng) * 3
    targets = _targets(rng, vocab, batch, time)
    targets[-1, -1] = (ignore_index + 1) % vocab  # at least one position kept...
    ignored = torch.rand(batch, time, generator=rng) < 0.3
    ignored[0, 0], ignored[-1, -1] = True, False  # ...and at least one ignored
    targets = targets.masked_fill(ignored, ignore_index)
    what = f"{tuple(logits.shape)} logits with {int((targets == ignore_index).sum())} ignored"
    return logits, targets, what


@contextmanager
def _explain_padded(ignore_index):
    """Name the mistakes that make a padded (B, T, V) batch raise."""
    ignored_gathered = rf"index {ignore_index} is out of bounds"
    with explain(LEADING_DIMS, when=SHAPE_ERROR), explain(IGNORED_NOT_MASKED, ignored_gathered):
        yield


def _ignore_mistakes(logits, targets, reduction, ignore_index, want):
    """The answers of the usual mistakes with ignored positions."""
    want_sum = _torch_ce(logits, targets, "sum", ignore_index)
    clamped = targets.clamp(min=0)  # -100 gathered at class 0 and kept
    kept_anyway = (
        _torch_ce(logits, targets, reduction)  # ignore_index is a class: nothing masked
        if ignore_index >= 0
        else _torch_ce(logits, clamped, reduction)
    )
    wrong = {
        **_common_mistakes(want, want_sum, reduction),
        IGNORED_NOT_MASKED: kept_anyway,
        LEADING_DIMS: _unflattened(logits, targets, reduction, ignore_index),
        SOFTMAX_WRONG_DIM: _torch_nll(logits.log_softmax(1), targets, reduction, ignore_index),
    }
    if reduction == "mean":
        wrong[IGNORED_IN_MEAN] = want_sum / targets.numel()
    return wrong


@points(2)
def test_cross_entropy_ignore_index(learner, rng):
    """positions whose target is ignore_index are left out (0 with "none", not in the mean)"""
    pad_class = size(rng, 0, 1)  # a custom ignore_index may be a class number
    for ignore_index, reductions in [(-100, REDUCTIONS), (pad_class, ("none", "mean"))]:
        logits, targets, what = _padded_batch(rng, ignore_index)
        for reduction in reductions:
            kwargs = {"ignore_index": ignore_index} if ignore_index != -100 else {}
            with _explain_padded(ignore_index):
                got = learner.cross_entropy(
                    logits, targets, reduction=reduction, forbid=FORBIDDEN, **kwargs
                )
            want = _torch_ce(logits, targets, reduction, ignore_index)
            _expect_loss(
                got,
                want,
                f'cross_entropy(reduction="{reduction}", ignore_index={ignore_index}) of {what}',
                wrong=_ignore_mistakes(logits, targets, reduction, ignore_index, want),
            )


def _not_finite(got) -> bool:
    return not bool(torch.isfinite(got).all())


def _value_and_grad(learner, logits, targets, **kwargs) -> tuple[Any, Any]:
    """cross_entropy's value on logits that require grad, and the gradient that reached them."""
    seen = learner.scenario(
        "value_and_grad",
        "cross_entropy",
        logits.clone().requires_grad_(),
        targets,
        forbid=FORBIDDEN,
        **kwargs,
    )
    value, (logits_grad, _) = value_and_grads(seen, 2)
    return value, logits_grad


def _expect_gradient(grad, want_grad, what, atol, wrong=None):
    if grad is None:
        fail(
            f"no gradient reached the logits through {what}: keep the whole computation in "
            "torch (no .item(), .detach(), .numpy() or torch.tensor(...) of results)"
        )
    _expect_loss(grad, want_grad, f"the gradient of {what}", atol=atol, wrong=wrong)


@points(1)
def test_cross_entropy_gradient(learner, rng):
    """cross_entropy has F.cross_entropy's gradient, 0 at ignored positions"""
    logits, targets, what = _padded_batch(rng, -100)
    leaf = logits.clone().requires_grad_()
    want = _torch_ce(leaf, targets, "mean")
    (want_grad,) = torch.autograd.grad(want, leaf)
    with _explain_padded(-100):
        value, grad = _value_and_grad(learner, logits, targets)
    what, want = f"cross_entropy of {what}", want.detach()
    _expect_loss(value, want, what, wrong=_ignore_mistakes(logits, targets, "mean", -100, want))
    _expect_gradient(grad, want_grad, what, atol=1e-6)


@points(1)
def test_cross_entropy_large_logits(learner, rng):
    """cross_entropy stays finite and right for logits of magnitude 1e4"""
    n, c = distinct_sizes(rng, 2)
    logits = torch.randn(n, c, generator=rng) * 1e4
    targets = _targets(rng, c, n)
    targets[0] = logits[0].argmin()  # a probability that rounds to 0: log(0) would be -inf
    leaf = logits.clone().requires_grad_()
    want = _torch_ce(leaf, targets, "none")
    (want_grad,) = torch.autograd.grad(want.sum(), leaf)
    value, grad = _value_and_grad(learner, logits, targets, reduction="none")
    what = f'cross_entropy(reduction="none") of ({n}, {c}) logits of magnitude 1e4'
    _expect_loss(
        value,
        want.detach(),
        what,
        atol=1e-2,
        wrong={LOG_OF_SOFTMAX: _not_finite, MISSING_MINUS: -want.detach()},
    )
    # log-probabilities near 1e4 carry float32 rounding of ~1e-3, and so do the gradients
    _expect_gradient(grad, want_grad, what, atol=1e-3, wrong={LOG_OF_SOFTMAX: _not_finite})
