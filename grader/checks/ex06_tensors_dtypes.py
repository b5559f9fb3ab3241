"""Hidden checks for ex06_tensors_dtypes: ids, feature dtypes, one-hot and shared memory."""

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from grader.kit import (
    Failure,
    LearnerBroke,
    LearnerRaised,
    Misconception,
    distinct_sizes,
    expect,
    expect_tensor,
    fail,
    observed,
    points,
    random_seed,
    seconds,
    size,
    type_name,
)
from grader.worker.scenarios.ex06_tensors_dtypes import build_array

# the notebook's visible sanity test: torch and the kata's own names only
SANITY = """
import torch
ids = to_ids(["b", "c", "b"], ["a", "b", "c"])
assert ids.dtype == torch.int64, "to_ids should return an int64 tensor"
assert ids.tolist() == [1, 2, 1], "to_ids: each token's position in vocab"
features = features_to_tensor([[1, 2], [3, 4], [5, 6]])  # ints in, floats out
assert features.dtype == torch.float32, "features_to_tensor should give float32, even for ints"
assert features.shape == (3, 2), "features_to_tensor: 3 rows of 2 numbers give shape (3, 2)"
encoded = one_hot(torch.tensor([2, 0]), 3)
expected = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
assert encoded.dtype == torch.float32 and torch.equal(encoded, expected), "one_hot: float32 rows"
"""

INT64_FEATURES = Misconception(
    "ex06/int64-features",
    "torch.tensor infers int64 from Python ints, and integer tensors go wrong quietly: "
    "x[0, 0] = 0.7 stores 0, they cannot require grad, and nn.Linear refuses them. "
    "Ask for the dtype: torch.tensor(rows, dtype=torch.float32).",
)
QUADRATIC_LOOKUP = Misconception(
    "ex06/quadratic-lookup",
    "vocab.index(token) scans the vocabulary from the start for every token: 50,000 tokens "
    "times 50,000 words is over a billion comparisons. Build a dict {word: id} once "
    "(one pass over vocab); then each lookup is O(1).",
)
INT64_ONE_HOT = Misconception(
    "ex06/int64-one-hot",
    "The one-hot rows are integers (F.one_hot returns int64; a comparison gives bool), "
    "but they feed matmuls and losses next to float32 weights. Convert them: .float().",
)
COPIED_ARRAY = Misconception(
    "ex06/copied-array",
    "torch.tensor(arr) always copies, and so does a conversion to another dtype (.float() of a "
    "float64 array, .to(...)): "
    "the tensor gets its own memory and no longer sees changes to arr. "
    "torch.from_numpy(arr) wraps arr's own memory, with arr's dtype.",
)

LETTERS = 26
WORD_LENGTH = 6
BIG = 50_000  # vocabulary size and token count of the timing check
BIG_SECONDS = 6  # inputs + transfer + a dict: ~0.5 s (~3 s on a crowded CPU); vocab.index: ~35 s


def _words(rng: torch.Generator, count: int) -> list[str]:
    """`count` distinct random lowercase words, in random order."""
    codes = torch.empty(0, dtype=torch.int64)
    while len(codes) < count:  # duplicates among 26**6 codes are rare: one round in practice
        more = torch.randint(0, LETTERS**WORD_LENGTH, (2 * count,), generator=rng)
        codes = torch.cat([codes, more]).unique()
    codes = codes[torch.randperm(len(codes), generator=rng)[:count]]
    powers = LETTERS ** torch.arange(WORD_LENGTH)
    letters = (codes[:, None] // powers) % LETTERS + ord("a")  # (count, WORD_LENGTH)
    text = letters.to(torch.uint8).numpy().tobytes().decode("ascii")
    return [text[i : i + WORD_LENGTH] for i in range(0, len(text), WORD_LENGTH)]


@contextmanager
def _inputs(what: str) -> Iterator[None]:
    """Say which inputs the learner's code raised on: shapes differ from call to call."""
    try:
        yield
    except LearnerRaised as exc:
        raise Failure(f"{exc.message}\n(called for {what})") from None


def _sample(rng: torch.Generator, vocab: list[str], count: int) -> tuple[list[str], torch.Tensor]:
    """`count` tokens drawn from vocab (with repeats) and their ids."""
    ids = torch.randint(0, len(vocab), (count,), generator=rng)
    return [vocab[i] for i in ids.tolist()], ids


@points(1)
def test_to_ids(learner, rng):
    """to_ids maps tokens to their positions in the vocabulary"""
    vocab = _words(rng, size(rng, 5, 30))
    tokens, want = _sample(rng, vocab, size(rng, 10, 40))
    got = learner.to_ids(tokens, vocab)
    expect_tensor(got, want, f"to_ids of {len(tokens)} tokens")

    empty = learner.to_ids([], vocab)
    expect(
        type(empty) is not torch.Tensor or empty.dtype != torch.float32,
        "to_ids of an empty token list should be int64, got float32: with no ints to look at, "
        "torch.tensor([]) falls back to float32. Say dtype=torch.int64.",
    )
    expect_tensor(empty, torch.zeros(0, dtype=torch.int64), "to_ids of an empty token list")


@points(1)
def test_to_ids_unknown_token(learner, rng):
    """to_ids raises ValueError naming a token that is not in the vocabulary"""
    vocab = _words(rng, size(rng, 5, 30))
    tokens, _ = _sample(rng, vocab, size(rng, 5, 20))
    unknown = f"{vocab[0][:3]}{size(rng, 0, 9)}"  # a digit: never a vocabulary word
    tokens.insert(size(rng, 0, len(tokens)), unknown)
    what = f"to_ids with the unknown token {unknown!r}"
    try:
        got = learner.to_ids(tokens, vocab)
    except LearnerRaised as exc:
        expect(
            exc.error_type != "KeyError",
            f"{exc.message}\n{what} should raise ValueError, not KeyError: "
            "check `token in ...` and raise ValueError yourself.",
        )
        if exc.error_type != "ValueError":
            raise
        expect(
            unknown in exc.error_message,
            f"{what} raised ValueError({exc.error_message!r}): the message should name the "
            "token, so the user sees which one is unknown.",
        )
        return
    fail(f"{what} should raise ValueError, but it returned {type_name(got)}")


@points(2)
@seconds(BIG_SECONDS)
def test_to_ids_linear_time(learner, rng):
    """to_ids handles 50,000 tokens and a 50,000-word vocabulary in linear time"""
    vocab = _words(rng, BIG)
    tokens, want = _sample(rng, vocab, BIG)
    try:
        got = learner.to_ids(tokens, vocab)
    except LearnerBroke as exc:
        if "did not finish within" in exc.message:
            fail(
                f"to_ids of {BIG:,} tokens with a {BIG:,}-word vocabulary did not finish "
                f"within {BIG_SECONDS} s; a linear-time version takes a fraction of a second.",
                QUADRATIC_LOOKUP,
            )
        raise
    expect_tensor(got, want, f"to_ids of {BIG:,} tokens")


@points(2)
def test_features_to_tensor(learner, rng):
    """features_to_tensor gives an (N, D) float32 tensor, also for int rows"""
    rows, cols = distinct_sizes(rng, 2)
    floats = (torch.randn(rows, cols, generator=rng) * 5).tolist()
    ints = torch.randint(-9, 10, (cols, cols), generator=rng).tolist()  # square: N == D
    for name, data in [("float", floats), ("int", ints)]:
        what = f"features_to_tensor of {len(data)} rows of {len(data[0])} {name}s"
        with _inputs(what):
            got = learner.features_to_tensor(data)
        expect_tensor(
            got,
            torch.tensor(data, dtype=torch.float32),
            what,
            wrong={INT64_FEATURES: lambda g: g.dtype == torch.int64},
        )


@points(2)
def test_one_hot(learner, rng):
    """one_hot gives (..., num_classes) float32 rows with a 1 at each id"""
    for leading in [(size(rng),), (size(rng), size(rng)), (2, size(rng), size(rng))]:
        num_classes = size(rng, 3, 12)
        ids = torch.randint(0, num_classes - 1, leading, generator=rng)  # top class left unused
        what = f"one_hot of ids with shape {tuple(leading)} and num_classes={num_classes}"
        with _inputs(what):
            got = learner.one_hot(ids, num_classes)
        if type(got) is torch.Tensor and got.shape[-1:] == (int(ids.max()) + 1,):
            fail(
                f"{what} should end in a dim of {num_classes}, got shape {tuple(got.shape)}: "
                "the top classes do not occur in these ids, so take the size from num_classes, "
                "not from the largest id."
            )
        expect_tensor(
            got,
            F.one_hot(ids, num_classes).float(),
            what,
            wrong={INT64_ONE_HOT: lambda g: not g.is_floating_point()},
        )


@points(2)
def test_from_numpy_shared(learner, rng):
    """from_numpy_shared shares memory with the numpy array"""
    for dtype, shape in [
        ("float64", [size(rng, 2, 20)]),
        ("float32", [size(rng), size(rng)]),
        ("int64", [size(rng), size(rng)]),
    ]:
        seed = random_seed(rng)
        want = torch.from_numpy(build_array(seed, shape, dtype))
        obs = observed(learner.scenario("watch_shared", seed, shape, dtype), dict, "value")
        what = f"from_numpy_shared(arr) for a {dtype} arr of shape {tuple(shape)}"
        expect_tensor(
            obs.get("value"),
            want,
            what,
            wrong={COPIED_ARRAY: lambda g: g.dtype != want.dtype},
        )
        expect_tensor(
            obs.get("after_array_changed"),
            want + 1,
            f"after arr += 1, the tensor that {what} returned",
            wrong={COPIED_ARRAY: want},
        )
