"""Hidden checks for ex19_embeddings: a weight table, row lookups, their gradients, and
the one-hot product that gives the same rows the slow way."""

import torch

from grader.kit import (
    LearnerBroke,
    Misconception,
    context,
    expect,
    expect_tensor,
    explain,
    fail,
    observed,
    points,
    size,
    type_name,
)

# the notebook's visible sanity test: torch and the kata's own names only
SANITY = """
import torch
from torch import nn
torch.manual_seed(0)
theirs, mine = nn.Embedding(5, 4), Embedding(5, 4)
mine.load_state_dict(theirs.state_dict())
ids = torch.tensor([[0, 4, 4], [2, 1, 0]])  # (B, T) = (2, 3)
assert torch.allclose(mine(ids), theirs(ids)), "Embedding should match nn.Embedding's rows"
assert torch.allclose(onehot_matmul(ids, theirs.weight), theirs(ids)), "should match weight[ids]"
"""

ONE_HOT_FORWARD = Misconception(
    "ex19/one-hot-forward",
    "Embedding.forward built a matrix with one entry per (id, vocabulary word). An embedding is "
    "a lookup: self.weight[ids] reads one row per id, whatever the vocabulary size.",
)
WEIGHT_NOT_PARAMETER = Misconception(
    "ex19/weight-not-parameter",
    "The table must be an nn.Parameter assigned as self.weight: only then is it trained, saved "
    "in the state_dict under 'weight', and loaded from nn.Embedding's.",
)
WRONG_INIT = Misconception(
    "ex19/wrong-init",
    "nn.Embedding draws its weight from the standard normal N(0, 1): torch.randn(V, D). "
    "Uniform or scaled initialisations belong to other layers.",
)
ONE_HOT_INT = Misconception(
    "ex19/one-hot-int",
    "F.one_hot gives int64, and int64 @ float32 is refused. Convert the one-hot to the "
    "weight's dtype first: F.one_hot(ids, V).to(weight.dtype) @ weight.",
)


def _table(rng: torch.Generator) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """A random (V, D) weight and id tensors of several shapes, with repeated ids."""
    vocab, dim = size(rng, 5, 40), size(rng, 2, 9)
    weight = torch.randn(vocab, dim, generator=rng)
    shapes = [(size(rng, 20, 60),), (size(rng), size(rng)), ()]
    return weight, [torch.randint(0, vocab, shape, generator=rng) for shape in shapes]


@points(2)
def test_weight_is_a_registered_parameter(learner, rng):
    """Embedding(V, D) keeps a (V, D) nn.Parameter named weight, like nn.Embedding"""
    vocab, dim = size(rng, 10, 50), size(rng, 2, 9)
    seen = learner.scenario("structure", vocab, dim, seed=size(rng, 0, 10**6))
    seen = observed(seen, dict, "weight_type", "parameters", "state_dict")
    what = f"Embedding({vocab}, {dim})"
    expect(
        seen["weight_type"] == "Parameter",
        f"{what}.weight is a {seen['weight_type']}, not an nn.Parameter",
        WEIGHT_NOT_PARAMETER,
    )
    expect(
        seen["parameters"] == {"weight": [vocab, dim]},
        f"{what} should have one parameter, weight of shape ({vocab}, {dim}); it has "
        f"{seen['parameters']}",
        WEIGHT_NOT_PARAMETER,
    )
    expect(
        seen["state_dict"] == ["weight"],
        f"{what}'s state_dict should hold just 'weight', like nn.Embedding's; it holds "
        f"{seen['state_dict']}",
    )


@points(1)
def test_weight_starts_standard_normal(learner, rng):
    """Embedding's weight starts from N(0, 1), like nn.Embedding's"""
    seen = learner.scenario("structure", 2000, 64, seed=size(rng, 0, 10**6))
    seen = observed(seen, dict, "weight_type", "mean", "std")
    mean, std = seen["mean"], seen["std"]
    expect(mean is not None, f"Embedding.weight is a {seen['weight_type']}", WEIGHT_NOT_PARAMETER)
    # 128,000 draws: the sample mean is within 0.02 and the std within 0.02 of N(0, 1)'s
    expect(
        abs(mean) < 0.02 and abs(std - 1) < 0.02,
        f"Embedding(2000, 64).weight has mean {mean:.3f} and std {std:.3f}; "
        "N(0, 1) gives about 0 and 1",
        WRONG_INIT,
    )


@points(2)
def test_forward_reads_rows(learner, rng):
    """Embedding loads nn.Embedding's state_dict and reads one row per id, for any shape"""
    weight, all_ids = _table(rng)
    for ids in all_ids:
        upstream = torch.randn(*ids.shape, weight.shape[1], generator=rng)
        with context(f"Embedding{tuple(weight.shape)} on ids of shape {tuple(ids.shape)}"):
            seen = learner.scenario("lookup", weight, ids, upstream)
            expect_tensor(observed(seen, dict, "out")["out"], weight[ids], "the output")


@points(2)
def test_gradients_accumulate_over_repeated_ids(learner, rng):
    """gradients reach weight like nn.Embedding's: repeated ids add up"""
    weight, all_ids = _table(rng)
    ids = all_ids[0]  # more ids than most vocabularies: repeats are certain
    upstream = torch.randn(*ids.shape, weight.shape[1], generator=rng)
    want = torch.zeros_like(weight).index_add_(0, ids, upstream)
    with context(f"backward through Embedding{tuple(weight.shape)} on {ids.numel()} ids"):
        seen = learner.scenario("lookup", weight, ids, upstream)
        grad = observed(seen, dict, "out").get("grad")  # sent when the output is a tensor
        expect(
            grad is not None,
            "weight.grad is None: the output is not computed from "
            "self.weight (was it copied or detached?)",
            WEIGHT_NOT_PARAMETER,
        )
        expect_tensor(grad, want, "weight.grad")


@points(1)
def test_forward_never_builds_a_one_hot(learner):
    """Embedding's forward stays small: 4,096 ids from a 50,000-word vocabulary"""
    try:
        with explain(ONE_HOT_FORWARD, when="allocate|memory|Memory"):
            seen = learner.scenario("lookup_size", 50_000, 32, 4096)
    except LearnerBroke as exc:  # out of time or memory: 4,096 x 50,000 floats take both
        fail(exc.message, ONE_HOT_FORWARD)
    if observed(seen, dict, "one_hot")["one_hot"]:
        fail(f"Embedding(50000, 32) on 4,096 ids: {seen['one_hot']}", ONE_HOT_FORWARD)
    seen = observed(seen, dict, "shape")
    expect(
        seen["shape"] == [4096, 32],
        f"Embedding(50000, 32) on 4,096 ids should give (4096, 32), got {seen['shape']}",
    )


@points(2)
def test_onehot_matmul_gives_the_same_rows(learner, rng):
    """onehot_matmul gives weight[ids] as one_hot(ids) @ weight, for any shape of ids"""
    weight, all_ids = _table(rng)
    for ids in all_ids[:2]:
        with explain(ONE_HOT_INT, when="dtype|scalar type|Long"):
            got = learner.onehot_matmul(ids, weight)
        if type(got) is torch.Tensor and not got.is_floating_point():
            fail(f"onehot_matmul returned {type_name(got)} of dtype {got.dtype}", ONE_HOT_INT)
        expect_tensor(got, weight[ids], f"onehot_matmul of ids {tuple(ids.shape)}", atol=1e-6)
