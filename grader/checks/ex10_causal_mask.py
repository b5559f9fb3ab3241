"""Hidden checks for ex10_causal_mask: the mask, its device (the CPU and "meta"), the weights for
any leading dims, exact zeros, gradients, and the caller's scores left alone.

The judge builds every expected value itself: torch.triu for the mask, and masked_fill with
-inf followed by torch.softmax for the weights. A mask made on "meta" has no values to send, so
the worker reports its device, dtype and shape instead.
"""

import torch

from grader.kit import (
    Misconception,
    distinct_sizes,
    expect,
    expect_tensor,
    explain,
    fail,
    fmt_shape,
    observed,
    points,
    size,
)

# the notebook's visible sanity test: torch and the kata's own names only
SANITY = """
import torch
expected = torch.tensor([[0, 1, 1], [0, 0, 1], [0, 0, 0]], dtype=torch.bool)
assert torch.equal(causal_mask(3), expected), "causal_mask(3) should be True where j > i only"
assert causal_mask(3, device="meta").is_meta, "causal_mask should make the mask on `device`"
scores = torch.zeros(2, 3, 3)  # equal scores: each row spreads evenly over what it may see
weights = masked_attention(scores)
expected = torch.tensor([[1, 0, 0], [1 / 2, 1 / 2, 0], [1 / 3, 1 / 3, 1 / 3]])
assert torch.allclose(weights[1], expected), "row i: 1 / (i + 1) on keys 0..i, 0 on the future"
assert torch.equal(scores, torch.zeros(2, 3, 3)), "masked_attention should not modify scores"
"""

DIAGONAL_MASKED = Misconception(
    "ex10/diagonal-masked",
    "your mask also hides the diagonal (j == i), but a token may attend to itself: only j > i is "
    "the future. torch.triu(..., diagonal=1) starts one step above the diagonal; with "
    "diagonal=0 the first row is all -inf and its softmax is nan.",
)
LOWER_TRIANGLE = Misconception(
    "ex10/lower-triangle",
    "your mask hides the wrong triangle. Row i is the query, column j the key, and the future of "
    "row i is j > i: the upper triangle, torch.triu(..., diagonal=1). (torch.tril gives the "
    "positions that are allowed; masked_fill hides where the mask is True.)",
)
MASKED_FILL_DISCARDED = Misconception(
    "ex10/masked-fill-discarded",
    "your weights are a plain softmax of scores: the mask had no effect. "
    "scores.masked_fill(mask, value) returns a new tensor and leaves scores as it was, so use "
    "its result: hidden = scores.masked_fill(mask, float('-inf')), then softmax of hidden.",
)
ZERO_NOT_INF = Misconception(
    "ex10/zero-not-inf",
    "you set the future scores to 0, but exp(0) = 1: a score of 0 still gets weight like any "
    "other. Fill them with float('-inf'), so that exp gives exactly 0.",
)
FINITE_FILL = Misconception(
    "ex10/finite-fill",
    "the future still gets a tiny weight: your fill value is not negative enough for exp to "
    "reach 0 (exp(-30) is about 1e-13). Fill with float('-inf'), which gives exactly 0.",
)
SOFTMAX_WRONG_DIM = Misconception(
    "ex10/softmax-wrong-dim",
    "your softmax normalises the wrong dim. The weights of query i are row i, spread over the "
    "keys j: the last dim. Use softmax(dim=-1), whatever the leading dims are.",
)
MODIFIED_INPUT = Misconception(
    "ex10/modified-input",
    "masked_attention changed the caller's scores tensor (masked_fill_ with an underscore, or an "
    "assignment such as scores[..., mask] = ...). The caller may still need scores: use "
    "scores.masked_fill(mask, float('-inf')), which returns a new tensor.",
)
DEVICE_IGNORED = Misconception(
    "ex10/device-ignored",
    "your mask was made on the CPU, whatever device was asked for. Pass device= to the "
    "constructor (torch.ones(T, T, dtype=torch.bool, device=device), or torch.arange(T, "
    "device=device)): torch.triu and torch.tril keep their input's device. On a GPU, masking "
    "GPU scores with a CPU mask raises an error about tensors on different devices. (This check "
    "asks for the 'meta' device, which every machine has: its tensors have a shape, a dtype and "
    "a device, but no data.)",
)
IN_PLACE_ERROR = r"in-place operation"


def _triangle(T: int, upper: bool, diagonal: int) -> torch.Tensor:
    ones = torch.ones(T, T, dtype=torch.bool)
    return torch.triu(ones, diagonal) if upper else torch.tril(ones, diagonal)


def _future(T: int) -> torch.Tensor:
    """The right mask: True strictly above the diagonal, where j > i."""
    return _triangle(T, upper=True, diagonal=1)


def _weights(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the keys with the masked scores at -inf (all-masked rows come out nan)."""
    return scores.masked_fill(mask, float("-inf")).softmax(dim=-1)


def _diagnoses(scores: torch.Tensor) -> dict:
    """What each known mistake makes of these scores."""
    T = scores.shape[-1]
    future = _future(T)
    hidden = scores.masked_fill(future, float("-inf"))
    return {
        DIAGONAL_MASKED: _weights(scores, _triangle(T, upper=True, diagonal=0)),
        LOWER_TRIANGLE: tuple(_weights(scores, _triangle(T, False, d)) for d in (-1, 0)),
        MASKED_FILL_DISCARDED: scores.softmax(dim=-1),
        ZERO_NOT_INF: scores.masked_fill(future, 0.0).softmax(dim=-1),
        SOFTMAX_WRONG_DIM: tuple(hidden.softmax(dim=d) for d in range(scores.dim() - 1)),
    }


def _expect_weights(got: object, scores: torch.Tensor, what: str) -> torch.Tensor:
    want = _weights(scores, _future(scores.shape[-1]))
    return expect_tensor(got, want, what, rtol=1e-4, atol=1e-6, wrong=_diagnoses(scores))


def _mask_diagnoses(T: int) -> dict:
    return {
        DIAGONAL_MASKED: _triangle(T, upper=True, diagonal=0),
        LOWER_TRIANGLE: (_triangle(T, False, -1), _triangle(T, False, 0)),
    }


@points(2)
def test_causal_mask_values(learner, rng):
    """causal_mask(T) is a bool (T, T) mask, True exactly where j > i"""
    for T in (1, size(rng, 2, 9), size(rng, 10, 40)):
        got = learner.causal_mask(T)
        expect_tensor(got, _future(T), f"causal_mask({T})", wrong=_mask_diagnoses(T))


@points(1)
def test_causal_mask_device(learner, rng):
    """causal_mask(T, device) makes the mask on the device given as a str or torch.device"""
    T = size(rng, 2, 9)
    calls = [  # the ways a caller may pass the device
        (("cpu",), {}, "'cpu'"),
        ((), {"device": torch.device("cpu")}, "device=torch.device('cpu')"),
        ((), {"device": None}, "device=None"),
    ]
    for args, kwargs, shown in calls:
        what = f"causal_mask({T}, {shown})"
        seen = observed(
            learner.scenario("mask_on_device", T, *args, **kwargs), dict, "mask", "device"
        )
        expect_tensor(seen["mask"], _future(T), what, wrong=_mask_diagnoses(T))
        expect(seen["device"] == "cpu", f"{what} made its mask on {seen['device']}, not on cpu")


@points(1)
def test_causal_mask_on_another_device(learner, rng):
    """causal_mask(T, device) makes the mask on that device, not on the CPU"""
    T = size(rng, 2, 9)
    calls = [  # "meta": a device on every machine, whose tensors have a shape and no data
        (("meta",), {}, "'meta'"),
        ((), {"device": torch.device("meta")}, "device=torch.device('meta')"),
    ]
    for args, kwargs, shown in calls:
        what = f"causal_mask({T}, {shown})"
        seen = learner.scenario("mask_made_on", T, *args, **kwargs)
        seen = observed(seen, dict, "type", "device", "dtype", "shape")
        expect(seen["type"] == "Tensor", f"{what} should return a torch.Tensor, got {seen['type']}")
        expect(
            seen["device"] == "meta",
            f"{what} made its mask on {seen['device']}, not on meta",
            DEVICE_IGNORED,
        )
        expect(seen["dtype"] == "bool", f"{what} should have dtype torch.bool, got {seen['dtype']}")
        expect(
            seen["shape"] == [T, T],
            f"{what} should have shape {fmt_shape((T, T))}, got {fmt_shape(seen['shape'])}",
        )


def _scores(
    rng: torch.Generator, shape: tuple[int, ...], dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    return torch.randn(shape, generator=rng, dtype=dtype) * 2


@points(3)
def test_masked_attention_values(learner, rng):
    """masked_attention is a softmax over the keys with the future at -inf, for any leading dims"""
    T, batch, heads = distinct_sizes(rng, 3)
    cases = [
        ((T, T), torch.float32),
        ((batch, T, T), torch.float64),
        ((batch, heads, T, T), torch.float32),
        ((T, T, T), torch.float32),  # a batch as long as the sequence: broadcasting bugs hide
    ]
    for shape, dtype in cases:
        scores = _scores(rng, shape, dtype)
        got = learner.masked_attention(scores)
        _expect_weights(got, scores, f"masked_attention of {dtype} scores {fmt_shape(shape)}")


@points(1)
def test_masked_weights_exactly_zero(learner, rng):
    """masked weights are exactly 0, even where the future scores are large"""
    for T in (1, size(rng, 2, 9)):
        shape = (size(rng, 1, 4), T, T)
        future = _future(T)
        large = 20 + 10 * torch.rand(shape, generator=rng)  # would dominate if it leaked through
        scores = torch.where(future, large, torch.randn(shape, generator=rng))
        what = f"masked_attention of scores {fmt_shape(shape)} with future scores of 20 to 30"
        got = _expect_weights(learner.masked_attention(scores), scores, what)
        leaked = got[future.expand(shape)]
        if bool((leaked != 0).any()):
            fail(f"{what}: a masked weight is {leaked.abs().max().item():.3g}, not 0", FINITE_FILL)


@points(1)
def test_gradient_reaches_scores(learner, rng):
    """gradients flow back to scores, and are 0 at masked positions"""
    T, batch = distinct_sizes(rng, 2)
    scores = _scores(rng, (batch, T, T))
    upstream = torch.randn(scores.shape, generator=rng)
    leaf = scores.clone().requires_grad_()
    (_weights(leaf, _future(T)) * upstream).sum().backward()
    what = f"masked_attention of scores {fmt_shape(scores.shape)}"
    with explain(MODIFIED_INPUT, when=IN_PLACE_ERROR):
        seen = learner.scenario("weighted_backward", scores.clone().requires_grad_(), upstream)
    seen = observed(seen, dict, "weights", "grad")
    _expect_weights(seen["weights"], scores, what)
    if seen["grad"] is None:
        fail(
            f"{what}: no gradient reached scores. Keep every step a torch operation on scores "
            "(no .detach(), .item(), numpy or torch.no_grad())."
        )
    expect_tensor(seen["grad"], leaf.grad, f"the gradient of {what}", rtol=1e-4, atol=1e-6)


@points(1)
def test_scores_left_unchanged(learner, rng):
    """masked_attention leaves the caller's scores unchanged"""
    T, batch = distinct_sizes(rng, 2)
    scores = _scores(rng, (batch, T, T))
    seen = observed(
        learner.scenario("scores_after_call", scores.clone()), dict, "weights", "scores"
    )
    what = f"masked_attention of scores {fmt_shape(scores.shape)}"
    expect_tensor(
        seen["scores"],
        scores,
        f"the caller's scores after {what}",
        rtol=0,
        atol=0,
        wrong={MODIFIED_INPUT: lambda _: True},
    )
    _expect_weights(seen["weights"], scores, what)
