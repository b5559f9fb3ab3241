"""Hidden checks for ex02_fix_broadcasting: each function on a non-square and a square case."""

import torch

from grader.kit import (
    Misconception,
    close,
    distinct_sizes,
    expect_loop_free,
    expect_tensor,
    explain,
    points,
)

# the notebook's visible sanity test: torch and the kata's own names only
SANITY = """
import torch
import torch.nn.functional as F
torch.manual_seed(0)
x = torch.randn(2, 3)  # not square on purpose: B = 2 rows, D = 3 columns
row_means = center_rows(x).mean(dim=1)
assert torch.allclose(row_means, torch.zeros(2), atol=1e-6), "center_rows: row means should be 0"
pred, target = torch.randn(4, 1), torch.randn(4)
loss = mse(pred, target)
assert loss.shape == (), "mse should return a 0-dim tensor"
assert torch.allclose(loss, F.mse_loss(pred[:, 0], target)), "mse: pair pred[i, 0] with target[i]"
"""

MISSING_KEEPDIM = Misconception(
    "ex02/missing-keepdim",
    "x.mean(dim=1) is (B,), and a (B,) row broadcasts against the columns, not the rows. "
    "Keep the reduced dim with keepdim=True so the means are a (B, 1) column.",
)
ROW_VECTOR_WEIGHTS = Misconception(
    "ex02/row-vector-weights",
    "w is (B,), which lines up with the last dim of x (the columns); you meant a (B, 1) column: "
    "w[:, None] or w.unsqueeze(1).",
)
OUTER_BROADCAST = Misconception(
    "ex02/outer-broadcast",
    "pred (B, 1) minus target (B,) broadcasts to a (B, B) matrix of every pair, so the mean is "
    "over B*B wrong differences. Make the shapes equal first: pred.squeeze(1) or pred.view(-1).",
)
SUM_NOT_MEAN = Misconception(
    "ex02/sum-not-mean",
    "This is the sum of the squared differences, B times the mean: mse divides by the number of "
    "pairs (.mean(), not .sum()), so the loss does not grow with the batch size.",
)
NO_NEW_AXIS = Misconception(
    "ex02/no-new-axis",
    "a - b pairs a[i] only with b[i]. For every pair (i, j) give each side its own axis: "
    "a[:, None, :] - b[None, :, :] is (N, M, D).",
)
TRANSPOSED_MATVEC = Misconception(
    "ex02/transposed-matvec",
    "m @ v with v (B, D) multiplies m by the columns of v, not by each row v[b]. "
    "Row b of the answer is m @ v[b] = v[b] @ m.T, so the whole batch is v @ m.T.",
)
PYTHON_LOOP = Misconception(
    "ex02/python-loop",
    "This kata is about letting broadcasting do the loop: rewrite it as whole-tensor operations.",
)

SHAPE_ERROR = r"must match the size|size mismatch|cannot be multiplied|shapes cannot"


def _shapes(rng: torch.Generator) -> list[tuple[int, int]]:
    """A non-square (rows != cols) case, where bugs raise, and a square one, where they hide."""
    rows, cols = distinct_sizes(rng, 2)
    return [(rows, cols), (cols, cols)]


@points(2)
def test_center_rows(learner, rng):
    """center_rows subtracts each row's mean"""
    for rows, cols in _shapes(rng):
        x = torch.randn(rows, cols, generator=rng) * 3 + 1
        with explain(MISSING_KEEPDIM, when=SHAPE_ERROR):
            got = learner.center_rows(x)
        expect_tensor(
            got,
            x - x.mean(dim=1, keepdim=True),
            f"center_rows of a {rows}x{cols} x",
            wrong={MISSING_KEEPDIM: lambda g: close(g, x - x.mean(dim=1))},
        )
    expect_loop_free(learner.source, "center_rows", PYTHON_LOOP)


@points(2)
def test_scale_rows(learner, rng):
    """scale_rows multiplies row i by w[i]"""
    for rows, cols in _shapes(rng):
        x, w = torch.randn(rows, cols, generator=rng), torch.randn(rows, generator=rng)
        with explain(ROW_VECTOR_WEIGHTS, when=SHAPE_ERROR):
            got = learner.scale_rows(x, w)
        expect_tensor(
            got,
            x * w.unsqueeze(1),
            f"scale_rows of a {rows}x{cols} x",
            wrong={ROW_VECTOR_WEIGHTS: lambda g: close(g, x * w)},
        )
    expect_loop_free(learner.source, "scale_rows", PYTHON_LOOP)


@points(2)
def test_mse(learner, rng):
    """mse is the mean of B squared differences, as a 0-dim tensor"""
    for batch, _ in _shapes(rng):
        pred = torch.randn(batch, 1, generator=rng)
        target = torch.randn(batch, generator=rng)
        outer = (pred - target) ** 2  # (B, B): every pred against every target
        squares = (pred[:, 0] - target) ** 2  # (B,)
        got = learner.mse(pred, target)
        expect_tensor(
            got,
            squares.mean(),
            f"mse with B={batch}",
            wrong={
                OUTER_BROADCAST: (outer.mean(), outer, outer.sum()),
                SUM_NOT_MEAN: squares.sum(),
            },
        )
    expect_loop_free(learner.source, "mse", PYTHON_LOOP)


@points(2)
def test_pairwise_sq_dists(learner, rng):
    """pairwise_sq_dists gives an (N, M) matrix of squared distances"""
    n, m = distinct_sizes(rng, 2)
    dim = distinct_sizes(rng, 1)[0]
    for rows_a, rows_b in [(n, m), (n, n)]:
        a, b = torch.randn(rows_a, dim, generator=rng), torch.randn(rows_b, dim, generator=rng)
        want = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        with explain(NO_NEW_AXIS, when=SHAPE_ERROR):
            got = learner.pairwise_sq_dists(a, b)
        expect_tensor(
            got,
            want,
            f"pairwise_sq_dists of a ({rows_a}, {dim}), b ({rows_b}, {dim})",
            rtol=1e-4,
            atol=1e-4,
            wrong={NO_NEW_AXIS: lambda g: g.shape == (rows_a,)},
        )
    expect_loop_free(learner.source, "pairwise_sq_dists", PYTHON_LOOP)


@points(2)
def test_batch_matvec(learner, rng):
    """batch_matvec applies m to every row of v"""
    batch, dim = distinct_sizes(rng, 2)
    for rows in (batch, dim):
        m, v = torch.randn(dim, dim, generator=rng), torch.randn(rows, dim, generator=rng)
        with explain(TRANSPOSED_MATVEC, when=SHAPE_ERROR):
            got = learner.batch_matvec(m, v)
        want = torch.stack([m @ v[b] for b in range(rows)])
        expect_tensor(
            got,
            want,
            f"batch_matvec with B={rows}, D={dim}",
            rtol=1e-4,
            atol=1e-5,
            wrong={TRANSPOSED_MATVEC: lambda g: g.shape in {(dim, rows), (rows, dim)}},
        )
    expect_loop_free(learner.source, "batch_matvec", PYTHON_LOOP)
