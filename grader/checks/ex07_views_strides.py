"""Hidden checks for ex07_views_strides: strides by hand, then splitting and merging heads."""

import math

import torch

from grader.kit import (
    LearnerRaised,
    Misconception,
    close,
    diagnose,
    distinct_sizes,
    expect,
    expect_number,
    expect_tensor,
    explain,
    fail,
    fmt_shape,
    observed,
    points,
    size,
    type_name,
)

# the notebook's visible sanity test: torch and the kata's own names only
SANITY = """
import torch
strides = torch.empty(2, 3, 4).stride()  # torch's own answer
assert row_major_strides((2, 3, 4)) == strides, "row_major_strides((2, 3, 4)) should be (12, 4, 1)"
x = torch.arange(60.0).view(2, 5, 6)  # (B, T, C) = (2, 5, 6): 2 heads of 3 channels
heads = split_heads(x, 2)
assert heads.shape == (2, 2, 5, 3), "split_heads(x, 2) should be (B, H, T, C // H) = (2, 2, 5, 3)"
assert torch.equal(heads[:, 1], x[:, :, 3:]), "head 1 should hold channels 3..5 of every time step"
assert torch.equal(merge_heads(heads), x), "merge_heads should undo split_heads"
"""

NO_TRANSPOSE = Misconception(
    "ex07/no-transpose",
    "Reshaping straight between (B, T, C) and (B, H, T, hd) keeps the flat memory order, so it "
    "cuts the data in the wrong places: each 'head' gets pieces of several time steps. Split "
    "only the channel dim, x.view(B, T, H, hd), then swap the head and time dims with "
    ".transpose(1, 2); merge_heads undoes these steps in reverse order.",
)
VIEW_NON_CONTIGUOUS = Misconception(
    "ex07/view-non-contiguous",
    "transpose moves no data, it only swaps two strides, so x.transpose(1, 2) is not contiguous: "
    "its elements are not stored in (B, T, H, hd) order, and .view can only reinterpret memory "
    "that already is in the new order. Copy it into that order first: "
    "x.transpose(1, 2).contiguous().view(B, T, H * hd).",
)
REVERSED_STRIDES = Misconception(
    "ex07/reversed-strides",
    "Your strides are in the wrong order. In row-major layout the LAST dim is adjacent in memory "
    "(stride 1) and the first dim has the largest stride: the stride of dim d is the product of "
    "the sizes after d. Build them from the right, put them back in dim order, and pair "
    "index[d] with strides[d].",
)
OWN_DIM_IN_STRIDE = Misconception(
    "ex07/own-dim-in-stride",
    "Each of your strides includes its own dim's size. A dim's stride is how many elements one "
    "step along it skips, and one step skips one whole block of the dims AFTER it: the product "
    "of the sizes after d, not from d on. So the last dim's stride is 1 (nothing comes after "
    "it), and (2, 3, 4) has strides (12, 4, 1), not (24, 12, 4).",
)
NON_CONTIGUOUS_RESULT = Misconception(
    "ex07/non-contiguous-result",
    "reshape (and flatten) return a view whenever they can, even a non-contiguous one, so for "
    "some input layouts your result keeps scattered strides. merge_heads promises a contiguous "
    "tensor (the code after it may call .view): call .contiguous() after the transpose, then "
    ".view(B, T, H * hd).",
)

VIEW_ERROR = r"view size is not compatible"


def _expect_int_tuple(got, want: tuple[int, ...], what: str, wrong, note: str = "") -> None:
    """`got` is a tuple of Python ints equal to `want` (diagnosed with `wrong` otherwise)."""
    if type(got) is not tuple:
        hint = ": wrap it in tuple(...)" if type(got) is list else ""
        fail(f"{what} should return a tuple of ints, got {type_name(got)}{hint}")
    not_int = [type_name(v) for v in got if type(v) is not int]
    if not_int:
        fail(
            f"{what} should hold Python ints, got {not_int[0]} "
            "(int(...) turns a tensor or numpy number into one)"
        )
    if got != want:
        fail(f"{what}: expected {want}, got {got}{note}", diagnose(got, wrong))


def _from_own_dim(shape: list[int]) -> tuple[int, ...]:
    """Strides that multiply each dim's own size in: the product of the sizes from d on."""
    return tuple(math.prod(shape[d:]) for d in range(len(shape)))


def _column_major(shape: list[int]) -> tuple[int, ...]:
    strides, step = [], 1
    for n in shape:
        strides.append(step)
        step *= n
    return tuple(strides)


@points(2)
def test_row_major_strides(learner, rng):
    """row_major_strides matches the strides of a contiguous tensor"""
    shapes = [
        tuple(distinct_sizes(rng, 3)),  # sizes all different: an order mix-up cannot hide
        [size(rng, 1, 6) for _ in range(4)],  # a list, maybe with size-1 dims
        (size(rng),),
        (),  # a 0-dim tensor: no dims, no strides
    ]
    for shape in shapes:
        want = torch.empty(shape).stride()
        got = learner.row_major_strides(shape)
        _expect_int_tuple(
            got,
            want,
            f"row_major_strides({shape})",
            {
                REVERSED_STRIDES: (
                    lambda g: g == want[::-1],
                    lambda g: g == _column_major(list(shape)),
                ),
                OWN_DIM_IN_STRIDE: lambda g: g == _from_own_dim(list(shape)),
            },
            "" if shape else " (a 0-dim tensor has no dims, so it has no strides)",
        )


def _strided_views(rng: torch.Generator) -> list[torch.Tensor]:
    """Tensors over arange memory, so each element's value is its flat offset."""
    dims = distinct_sizes(rng, 4)
    contiguous = torch.arange(dims[0] * dims[1] * dims[2]).view(*dims[:3])
    permuted = torch.arange(math.prod(dims)).view(*dims)
    order = torch.randperm(4, generator=rng).tolist()
    if order == sorted(order):
        order = order[::-1]
    every_other = torch.arange(dims[0] * 2 * dims[1]).view(dims[0], 2 * dims[1])[:, ::2]
    return [contiguous, permuted.permute(*order), every_other]


@points(2)
def test_flat_offset(learner, rng):
    """flat_offset finds an element from its index and the strides"""
    for case, view in enumerate(_strided_views(rng)):
        index = [int(torch.randint(n, (), generator=rng)) for n in view.shape]
        if case % 2:
            index = tuple(index)  # any sequence will do
        strides = view.stride()
        reversed_offset = sum(i * s for i, s in zip(index, strides[::-1], strict=True))
        got = learner.flat_offset(index, strides)
        expect_number(
            got,
            int(view[tuple(index)]),  # arange memory: the value is the offset
            f"flat_offset({index}, {strides})",
            kind=int,
            wrong={REVERSED_STRIDES: lambda g: g == reversed_offset},
        )


def _head_shapes(rng: torch.Generator) -> list[tuple[int, int, int, int]]:
    """(B, H, T, hd): all different, then all equal, where mixed-up dims keep the right shape."""
    square = size(rng, 2, 5)
    return [tuple(distinct_sizes(rng, 4)), (square,) * 4]


def _heads_of(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Straight from the definition: head h is channels [h*hd, (h+1)*hd)."""
    hd = x.shape[-1] // n_heads
    return torch.stack([x[..., h * hd : (h + 1) * hd] for h in range(n_heads)], dim=1)


@points(2)
def test_split_heads(learner, rng):
    """split_heads gives each head its own channels, as (B, H, T, hd)"""
    for B, H, T, hd in _head_shapes(rng):
        x = torch.randn(B, T, H * hd, generator=rng)
        got = learner.split_heads(x, H)
        expect_tensor(
            got,
            _heads_of(x, H),
            f"split_heads of a {fmt_shape(x.shape)} x into {H} heads",
            wrong={
                NO_TRANSPOSE: (
                    lambda g: close(g, x.reshape(B, H, T, hd)),
                    lambda g: close(g, x.reshape(B, T, H, hd)),
                )
            },
        )


@points(1)
def test_split_heads_rejects_uneven_heads(learner, rng):
    """split_heads raises ValueError when C is not divisible by n_heads"""
    B, T, H, hd = size(rng), size(rng), size(rng, 2, 6), size(rng)
    got = learner.split_heads(torch.randn(B, T, H * hd, generator=rng), H)
    expect(
        type(got) is torch.Tensor and got.shape == (B, H, T, hd),
        f"split_heads of a ({B}, {T}, {H * hd}) x into {H} heads should give shape "
        f"{fmt_shape((B, H, T, hd))}, got {type_name(got)} "
        f"{fmt_shape(got.shape) if type(got) is torch.Tensor else ''}",
    )
    channels = H * hd + size(rng, 1, H - 1)
    what = f"split_heads of a ({B}, {T}, {channels}) x into {H} heads"
    try:
        got = learner.split_heads(torch.randn(B, T, channels, generator=rng), H)
    except LearnerRaised as exc:
        expect(
            exc.error_type == "ValueError",
            f"{exc.message}\n{channels} is not divisible by {H}: check C % n_heads yourself "
            "and raise ValueError with a message that says so.",
        )
        return
    fail(
        f"{what} should raise ValueError ({channels} channels do not split into {H} equal "
        f"heads), but it returned {type_name(got)}"
    )


def _merged(heads: torch.Tensor) -> torch.Tensor:
    """Straight from the definition: head h goes back to channels [h*hd, (h+1)*hd)."""
    return torch.cat(heads.unbind(1), dim=-1)


def _expect_merged(got, heads: torch.Tensor, what: str) -> None:
    B, H, T, hd = heads.shape
    expect_tensor(
        got,
        _merged(heads),
        what,
        wrong={NO_TRANSPOSE: lambda g: close(g, heads.reshape(B, T, H * hd))},
    )


@points(2)
def test_merge_heads(learner, rng):
    """merge_heads puts the heads back side by side, as (B, T, H*hd)"""
    for B, H, T, hd in _head_shapes(rng):
        heads = torch.randn(B, H, T, hd, generator=rng)  # contiguous
        with explain(VIEW_NON_CONTIGUOUS, when=VIEW_ERROR):
            got = learner.merge_heads(heads)
        _expect_merged(got, heads, f"merge_heads of a contiguous {fmt_shape(heads.shape)} x")
        # laid out as split_heads leaves it: (B, T, H, hd) in memory, seen as (B, H, T, hd)
        stored = torch.randn(B, T, H, hd, generator=rng)
        with explain(VIEW_NON_CONTIGUOUS, when=VIEW_ERROR):
            seen = learner.scenario("merge_permuted", stored, [0, 2, 1, 3])
        got = observed(seen, dict, "merged")["merged"]
        _expect_merged(
            got,
            stored.transpose(1, 2),
            f"merge_heads of a {fmt_shape(heads.shape)} x as split_heads returns it",
        )


@points(1)
def test_merge_heads_is_contiguous(learner, rng):
    """merge_heads returns a contiguous tensor for any input layout"""
    B, H, T, hd = distinct_sizes(rng, 4)
    layouts = {  # memory order -> how it is permuted into (B, H, T, hd)
        "(B, H, T, hd)": ((B, H, T, hd), [0, 1, 2, 3]),
        "(B, T, H, hd)": ((B, T, H, hd), [0, 2, 1, 3]),
        "(T, B, H, hd)": ((T, B, H, hd), [1, 2, 0, 3]),  # time-major attention
    }
    for layout, (shape, dims) in layouts.items():
        stored = torch.randn(*shape, generator=rng)
        what = f"merge_heads of a ({B}, {H}, {T}, {hd}) x stored as {layout} in memory"
        with explain(VIEW_NON_CONTIGUOUS, when=VIEW_ERROR):
            seen = learner.scenario("merge_permuted", stored, dims)
        _expect_merged(observed(seen, dict, "merged")["merged"], stored.permute(*dims), what)
        seen = observed(seen, dict, "contiguous", "strides")  # sent with a tensor
        expect(
            seen["contiguous"],
            f"{what} returned a tensor with strides {seen['strides']}: not contiguous "
            f"(that would be strides {(T * H * hd, H * hd, 1)})",
            NON_CONTIGUOUS_RESULT,
        )
