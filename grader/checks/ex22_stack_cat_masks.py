"""Hidden checks for ex22_stack_cat_masks: stacking, joining and padding sequences, picking with
bool masks, and each row's max together with where it is.

Plain calls return the values the judge compares with its own torch.stack, torch.cat,
pad_sequence, x[mask], masked_fill and amax. Two scenarios (scenarios/ex22_stack_cat_masks.py)
show what a plain call cannot: the caller's x after zero_where, and row_max's answer when it is
torch's named tuple. B, T and C differ in every case, so that a mix-up of dims cannot keep the
right shape; row_max accepts any index of a tied max."""

from collections.abc import Callable
from typing import Any

import torch
from torch.nn.utils.rnn import pad_sequence

from grader.kit import (
    LearnerRaised,
    Misconception,
    case_value,
    close,
    context,
    diagnose,
    distinct_sizes,
    expect,
    expect_tensor,
    explain,
    fail,
    fmt_shape,
    observed,
    points,
    size,
    type_name,
    uniform,
)

# the notebook's visible sanity test: torch and the kata's own names only
SANITY = """
import torch
a, b = torch.ones(3, 2), torch.zeros(3, 2)
assert batch_sequences([a, b]).shape == (2, 3, 2), "batch_sequences: B tensors (T, C) -> (B, T, C)"
assert join_sequences([a, torch.zeros(1, 2)]).shape == (4, 2), "join_sequences: (3+1, C)"
padded, mask = pad_sequences([a, torch.zeros(1, 2)], pad_value=-1.0)
assert padded.shape == (2, 3, 2) and bool((padded[1, 1:] == -1).all()), "pad after the data"
real = torch.tensor([[True, True, True], [True, False, False]])
assert torch.equal(mask, real), "the mask is True at real positions, False at padding"
x = torch.tensor([[1.0, -2.0], [3.0, 4.0]])
assert torch.equal(select(x, x > 0), torch.tensor([1.0, 3.0, 4.0])), "select is 1-D, row-major"
zeroed = zero_where(x, x > 0)
assert torch.equal(zeroed, torch.tensor([[0.0, -2.0], [0.0, 0.0]])), "0 where the mask is True"
assert torch.equal(x, torch.tensor([[1.0, -2.0], [3.0, 4.0]])), "zero_where should not change x"
values, indices = row_max(x)
assert torch.equal(values, torch.tensor([1.0, 4.0])), "row_max: each row's largest value"
assert torch.equal(indices, torch.tensor([0, 1])), "row_max: and the column it is in"
"""

CAT_FOR_STACK = Misconception(
    "ex22/cat-for-stack",
    "torch.cat joins tensors along a dim they already have, so B tensors (T, C) become one "
    "(B*T, C) tensor and the sequences run into each other. A batch needs a NEW dim in front: "
    "torch.stack(seqs) gives (B, T, C), with seqs[b] at index b.",
)
STACK_FOR_CAT = Misconception(
    "ex22/stack-for-cat",
    "torch.stack puts the tensors side by side along a NEW dim: it needs them all of one shape "
    "and gives (B, T, C). Joining sequences one after another makes the time dim longer "
    "instead: torch.cat(seqs, dim=0) takes (T_i, C) tensors of any lengths and gives "
    "(T_1 + ... + T_B, C).",
)
MASK_INVERTED = Misconception(
    "ex22/mask-inverted",
    "The mask is the wrong way round. pad_sequences' mask is True where a sequence has data and "
    "False at the padding; select keeps, and zero_where zeroes, the elements where the mask "
    "given is True. ~mask flips a bool mask.",
)
SHAPE_KEPT = Misconception(
    "ex22/shape-kept",
    "x * mask (or torch.where(mask, x, 0)) keeps every position, with 0 where mask is False, so "
    "the result still has x's shape. Selecting drops the rest: x[mask] (or "
    "torch.masked_select(x, mask)) is a 1-D tensor of mask.sum() elements.",
)
VALUES_ONLY = Misconception(
    "ex22/values-only",
    "row_max returned only the maxima, but the caller needs where they are too (a predicted "
    "class is the index, not its score). x.max(dim=-1) gives both as a pair (values, indices); "
    "x.amax(-1) or x.max(dim=-1).values keep only the first. Return the pair.",
)
MODIFIED_INPUT = Misconception(
    "ex22/modified-input",
    "zero_where changed the caller's x: masked_fill_ (with the underscore) and x[mask] = 0 write "
    "into the tensor you were given, and the caller may still need it. x.masked_fill(mask, 0) "
    "returns a new tensor; or clone x and write into the copy.",
)

STACK_UNEQUAL = r"stack expects each tensor to be equal size"


def _sequences(rng: torch.Generator, lengths: list[int], C: int) -> list[torch.Tensor]:
    return [torch.randn(T, C, generator=rng) for T in lengths]


def _tensors(seqs: Any) -> str:
    """The sequences in words: '4 tensors (5, 3)', or their lengths when only those differ."""
    shapes = [tuple(s.shape) for s in seqs]
    if len(set(shapes)) == 1:
        return f"{len(seqs)} tensor{'s' if len(seqs) > 1 else ''} {fmt_shape(shapes[0])}"
    if len({shape[1:] for shape in shapes}) == 1:
        lengths = [shape[0] for shape in shapes]
        return f"{len(seqs)} tensors (T_b, {shapes[0][1]}) with T_b = {lengths}"
    return "tensors " + ", ".join(map(fmt_shape, shapes))


# ---- batch_sequences and join_sequences ----


@points(2)
def test_batch_sequences(learner, rng):
    """batch_sequences stacks B tensors (T, C) into one (B, T, C) batch"""
    first, second = distinct_sizes(rng, 3), distinct_sizes(rng, 3)
    cases = [
        _sequences(rng, [first[1]] * first[0], first[2]),
        tuple(_sequences(rng, [second[1]] * second[0], second[2])),  # any sequence will do
        _sequences(rng, [size(rng)], size(rng)),  # a batch of one
    ]
    for seqs in cases:
        what = f"batch_sequences of {_tensors(seqs)}"
        with context(what):
            got = learner.batch_sequences(seqs)
        expect_tensor(
            got,
            torch.stack(list(seqs)),
            what,
            wrong={CAT_FOR_STACK: (torch.cat(list(seqs), 0), torch.cat(list(seqs), 1))},
        )


@points(1)
def test_batch_sequences_rejects_different_shapes(learner, rng):
    """batch_sequences raises ValueError when the shapes differ"""
    B, T, C = distinct_sizes(rng, 3)
    seqs = _sequences(rng, [T] * B, C)
    what = f"batch_sequences of {_tensors(seqs)}"
    with context(what):
        got = learner.batch_sequences(seqs)
    expect(
        type(got) is torch.Tensor and got.shape == (B, T, C),
        f"{what} should give shape {fmt_shape((B, T, C))}, got {type_name(got)} "
        f"{fmt_shape(got.shape) if type(got) is torch.Tensor else ''}",
        diagnose(got, {CAT_FOR_STACK: lambda g: g.shape == (B * T, C)}),
    )
    odd = size(rng, 0, B - 1)  # the one sequence that does not fit
    longer = _sequences(rng, [T] * B, C)
    longer[odd] = torch.randn(T + size(rng, 1, 3), C, generator=rng)
    wider = _sequences(rng, [T] * B, C)
    wider[odd] = torch.randn(T, C + size(rng, 1, 3), generator=rng)
    for seqs in (longer, wider):
        what = f"batch_sequences of {_tensors(seqs)}"
        try:
            got = learner.batch_sequences(seqs)
        except LearnerRaised as exc:
            expect(
                exc.error_type == "ValueError",
                f"{what}: {exc.message}\nIt should raise ValueError here (torch.stack "
                "raises a RuntimeError of its own): compare the shapes first and raise "
                "ValueError with a message that names them.",
            )
            continue
        fail(
            f"{what} should raise ValueError (the shapes differ), but it returned {type_name(got)}"
        )


@points(1)
def test_join_sequences(learner, rng):
    """join_sequences puts tensors (T_i, C) one after another, as (sum of T_i, C)"""
    B, C = distinct_sizes(rng, 2, 2, 5)
    same = distinct_sizes(rng, 3)
    cases = [
        _sequences(rng, distinct_sizes(rng, B, 1, 9), C),  # every length different
        tuple(_sequences(rng, [same[1]] * same[0], same[2])),  # equal lengths: stack would run
        _sequences(rng, [size(rng)], size(rng)),
    ]
    for seqs in cases:
        what = f"join_sequences of {_tensors(seqs)}"
        with context(what), explain(STACK_FOR_CAT, when=STACK_UNEQUAL):
            got = learner.join_sequences(seqs)
        equal = len({s.shape for s in seqs}) == 1
        wrong = {STACK_FOR_CAT: torch.stack(list(seqs))} if equal else {}
        expect_tensor(got, torch.cat(list(seqs)), what, wrong=wrong)


# ---- pad_sequences ----


def _ragged(rng: torch.Generator) -> list[torch.Tensor]:
    """B sequences (T_b, C) with B, T_max and C all different, at least one of them padded."""
    B, T_max, C = distinct_sizes(rng, 3)
    lengths = [size(rng, 1, T_max) for _ in range(B)]
    longest, short = torch.randperm(B, generator=rng)[:2].tolist()
    lengths[longest], lengths[short] = T_max, size(rng, 1, T_max - 1)
    return _sequences(rng, lengths, C)


def _pad_cases(rng: torch.Generator) -> list[tuple[list[torch.Tensor], dict[str, float]]]:
    """(seqs, keyword arguments): the default pad value, and a chosen one."""
    return [(_ragged(rng), {}), (_ragged(rng), {"pad_value": -round(uniform(rng, 0.5, 9), 2)})]


def _padded_call(learner, seqs: list[torch.Tensor], kwargs: dict[str, float]) -> tuple:
    """The learner's (padded, mask), checked to be a pair, and the call in words."""
    shown = "".join(f" and {k}={v}" for k, v in kwargs.items())
    what = f"pad_sequences of {_tensors(seqs)}{shown}"
    with context(what):
        got = learner.pad_sequences(seqs, **kwargs)
    if type(got) is not tuple or len(got) != 2:
        fail(f"{what} should return a tuple (padded, mask), got {type_name(got)}")
    return got, what


def _mask(seqs: list[torch.Tensor]) -> torch.Tensor:
    lengths = torch.tensor([len(s) for s in seqs])  # (B,)
    return torch.arange(int(lengths.max())) < lengths[:, None]  # (B, T_max)


@points(1)
def test_pad_sequences_values(learner, rng):
    """pad_sequences pads each sequence to the longest with pad_value, as (B, T_max, C)"""
    for seqs, kwargs in _pad_cases(rng):
        (padded, _), what = _padded_call(learner, seqs, kwargs)
        pad_value = kwargs.get("pad_value", 0.0)
        want = pad_sequence(seqs, batch_first=True, padding_value=pad_value)
        if pad_value != 0 and close(padded, pad_sequence(seqs, batch_first=True)):
            fail(f"{what}: the padding is 0, not {pad_value}: fill it with pad_value")
        expect_tensor(padded, want, f"the padded tensor of {what}")


@points(1)
def test_pad_sequences_mask(learner, rng):
    """pad_sequences' mask is a (B, T_max) bool tensor, True at real positions"""
    for seqs, kwargs in _pad_cases(rng):
        (_, mask), what = _padded_call(learner, seqs, kwargs)
        want = _mask(seqs)
        expect_tensor(mask, want, f"the mask of {what}", wrong={MASK_INVERTED: ~want})


# ---- select and zero_where ----


def _mask_for(rng: torch.Generator, shape: tuple[int, ...]) -> torch.Tensor:
    """A random bool mask of this shape with at least one True and one False."""
    mask = torch.rand(shape, generator=rng) < 0.5
    on, off = torch.randperm(mask.numel(), generator=rng)[:2].tolist()
    mask.view(-1)[on], mask.view(-1)[off] = True, False
    return mask


def _mask_cases(rng: torch.Generator) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(x, mask) of x's shape: 2-D and 3-D with all sizes different, and 1-D."""
    A, R, C = distinct_sizes(rng, 3)
    shapes = [(R, C), (A, R, C), (size(rng, 3, 9),)]
    return [(torch.randn(shape, generator=rng), _mask_for(rng, shape)) for shape in shapes]


def _shaped_like(x: torch.Tensor) -> Callable[[Any], bool]:
    """A test for answers that kept x's shape."""
    return lambda got: type(got) is torch.Tensor and got.shape == x.shape


@points(1)
def test_select(learner, rng):
    """select returns the elements where mask is True, as a 1-D tensor in row-major order"""
    cases = _mask_cases(rng)
    x = torch.randn(size(rng), size(rng), generator=rng)
    cases.append((x, torch.zeros(x.shape, dtype=torch.bool)))  # nothing to pick: shape (0,)
    for x, mask in cases:
        what = f"select of x {fmt_shape(x.shape)} with {int(mask.sum())} True in its mask"
        with context(what):
            got = learner.select(x, mask)
        want = x[mask]
        reordered = (
            type(got) is torch.Tensor
            and got.shape == want.shape
            and not close(got, want)
            and torch.equal(got.sort().values, want.sort().values)
        )
        expect(
            not reordered,
            f"{what} has the right elements in the wrong order: row-major means the last dim "
            "runs fastest, as x[mask] reads them",
        )
        expect_tensor(got, want, what, wrong={SHAPE_KEPT: _shaped_like(x), MASK_INVERTED: x[~mask]})


def _zeroed(learner, cases: list[tuple[torch.Tensor, torch.Tensor]]) -> list:
    reports = observed(learner.scenario("zeroed", cases), list, length=len(cases))
    return reports


def _expect_zeroed(report: Any, x: torch.Tensor, mask: torch.Tensor, what: str) -> None:
    got = case_value(report, what)
    want = x.masked_fill(mask, 0)
    expect_tensor(got, want, what, wrong={MASK_INVERTED: x.masked_fill(~mask, 0)})


def _zero_what(x: torch.Tensor, mask: torch.Tensor) -> str:
    return f"zero_where of x {fmt_shape(x.shape)} with {int(mask.sum())} True in its mask"


@points(1)
def test_zero_where(learner, rng):
    """zero_where gives x with 0 where mask is True, in x's shape"""
    cases = _mask_cases(rng)
    for report, (x, mask) in zip(_zeroed(learner, cases), cases, strict=True):
        _expect_zeroed(report, x, mask, _zero_what(x, mask))


@points(1)
def test_zero_where_leaves_x_alone(learner, rng):
    """zero_where leaves the caller's x unchanged"""
    cases = _mask_cases(rng)
    for report, (x, mask) in zip(_zeroed(learner, cases), cases, strict=True):
        what = _zero_what(x, mask)
        report = observed(report, dict, "x")
        expect_tensor(
            report["x"],
            x,
            f"the caller's x after {what}",
            rtol=0,
            atol=0,
            wrong={MODIFIED_INPUT: lambda _: True},
        )
        _expect_zeroed(report, x, mask, what)


# ---- row_max ----


def _expect_row_max(got: Any, x: torch.Tensor, what: str) -> None:
    want = x.amax(dim=-1)  # (...)
    if type(got) is not tuple or len(got) != 2:
        fail(
            f"{what} should return a tuple (values, indices), got {type_name(got)}"
            + (f" of {len(got)}" if type(got) is tuple else ""),
            diagnose(got, {VALUES_ONLY: (want, lambda g: len(g) == 1 and close(g[0], want))}),
        )
    values, indices = got
    swapped = type(values) is torch.Tensor and values.dtype == torch.int64
    expect(
        not (swapped and close(indices, want)),
        f"{what} returned (indices, values): the order is (values, indices), as in x.max(-1)",
    )
    expect_tensor(values, want, f"the values of {what}")
    expect(
        type(indices) is torch.Tensor,
        f"the indices of {what} should be a torch.Tensor, got {type_name(indices)}",
    )
    expect(
        indices.dtype == torch.int64,
        f"the indices of {what} should be int64, got {indices.dtype}",
    )
    expect(
        indices.shape == want.shape,
        f"the indices of {what} should have shape {fmt_shape(want.shape)}, "
        f"got {fmt_shape(indices.shape)}",
    )
    width = x.shape[-1]
    expect(
        bool(((indices >= 0) & (indices < width)).all()),
        f"the indices of {what} should lie in 0..{width - 1}, got {indices.flatten().tolist()}",
    )
    picked = x.gather(-1, indices.unsqueeze(-1)).squeeze(-1)  # (...): x at each index
    bad = picked != want
    if bool(bad.any()):
        at = tuple(int(i) for i in torch.nonzero(bad)[0])
        row = f"[{', '.join(map(str, at))}]" if at else ""
        fail(
            f"the indices of {what} are wrong{' at ' + row if row else ''}: index "
            f"{int(indices[at])} holds {picked[at].item():.6g}, not that row's max "
            f"{want[at].item():.6g}"
        )


@points(1)
def test_row_max(learner, rng):
    """row_max returns (values, indices): each row's max over the last dim, and where it is"""
    A, R, C = distinct_sizes(rng, 3)
    cases = [
        ("", torch.randn(R, C, generator=rng)),
        ("", torch.randn(A, R, C, generator=rng)),
        ("", torch.randn(C, generator=rng)),
        # ties: any index of a row's max will do
        ("integer-valued ", torch.randint(0, 3, (R, C), generator=rng).float()),
    ]
    xs = [x for _, x in cases]
    reports = observed(learner.scenario("maxima", xs), list, length=len(xs))
    for report, (kind, x) in zip(reports, cases, strict=True):
        what = f"row_max of {kind}x {fmt_shape(x.shape)}"
        _expect_row_max(case_value(report, what), x, what)
