"""Hidden checks for ex12_data_loading: a Dataset of (features, label) pairs, batches per epoch,
and a DataLoader whose shuffle is reproducible without touching torch's global RNG.

The scenarios (scenarios/ex12_data_loading.py) run several cases per job and report each case's
outcome, an exception included, as data; the judge decides."""

from typing import Any

import torch
from torch.utils.data import DataLoader

from grader.kit import (
    Misconception,
    case_value,
    distinct_sizes,
    expect,
    expect_number,
    expect_tensor,
    fail,
    fmt_shape,
    learner_error,
    observed,
    points,
    random_seed,
    size,
    type_name,
)
from grader.worker.scenarios.ex12_data_loading import build_numpy_pair

# the notebook's visible sanity test: torch and the kata's own names only
SANITY = """
import torch
data = TensorPairDataset([[1, 2], [3, 4], [5, 6], [7, 8]], [0, 1, 2, 3])  # plain int lists
features, label = data[1]
assert features.dtype == torch.float32 and label.dtype == torch.int64, "X: float32, y: int64"
assert steps_per_epoch(10000, 128) == 79, "10000 examples, batches of 128: 79 (the last one short)"
rng = torch.get_rng_state()
first = [yb.tolist() for _, yb in make_loader(data, 2, shuffle=True, seed=0)]
again = [yb.tolist() for _, yb in make_loader(data, 2, shuffle=True, seed=0)]
assert first == again, "make_loader: the same seed should give the same order"
assert torch.equal(torch.get_rng_state(), rng), "make_loader should leave torch's global RNG alone"
"""

FLOOR_NOT_CEIL = Misconception(
    "ex12/floor-not-ceil",
    "n // batch_size rounds down, which leaves out the last, short batch: 10,000 examples in "
    "batches of 128 are 78 full batches and one of 16, so 79 steps. Unless drop_last is set, "
    "round up: math.ceil(n / batch_size), or (n + batch_size - 1) // batch_size.",
)
INT64_FEATURES = Misconception(
    "ex12/int64-features",
    "Features given as ints (Python ints, an int array or tensor) stay int64 unless you ask: "
    "torch.tensor / torch.as_tensor keep the input's kind, and nn.Linear refuses int64 input. "
    "Convert when you store them: torch.as_tensor(X, dtype=torch.float32).",
)
NO_GENERATOR = Misconception(
    "ex12/no-generator",
    "A DataLoader without a generator of its own draws from torch's global RNG every time it is "
    "iterated (the shuffle order, and a base seed even with shuffle=False), so its order depends "
    "on whatever ran before and the seed argument does nothing. Give each loader its own: "
    "DataLoader(..., generator=torch.Generator().manual_seed(seed)).",
)
GLOBAL_SEED = Misconception(
    "ex12/global-seed",
    "torch.manual_seed(seed) inside make_loader resets the global RNG that the rest of the "
    "program draws from (weight init, dropout, augmentation), and it does not even pin the order: "
    "the loader shuffles when it is iterated, after other code has moved the global stream on. "
    "Leave the global RNG alone: seed a private torch.Generator().manual_seed(seed) and pass it "
    "as generator=.",
)


# ---- TensorPairDataset ----


def _describe(data: Any) -> str:
    if type(data) is torch.Tensor:
        dtype = str(data.dtype).removeprefix("torch.")
        article = "an" if dtype.startswith(("i", "u")) else "a"
        return f"{article} {dtype} tensor of shape {fmt_shape(data.shape)}"
    if type(data[0]) is list:
        return f"a list of {len(data)} lists of {len(data[0])} {type(data[0][0]).__name__}s"
    return f"a list of {len(data)} {type(data[0]).__name__}s"


def _expect_items(report: Any, features: torch.Tensor, labels: torch.Tensor, what: str) -> None:
    rows = len(labels)
    dataset = f"TensorPairDataset(X, y) with {what}"
    if "raised" in observed(report, dict):
        case_value(report, dataset)
    length = case_value(report.get("len"), f"len() of {dataset}")
    expect_number(length, rows, f"len() of {dataset}", kind=int)
    items = case_value(report.get("items"), f"indexing {dataset}")
    for i, item in enumerate(observed(items, list, length=rows)):  # items 0..rows-1
        at = f"item {i} of {dataset}"
        expect(
            type(item) in (tuple, list) and len(item) == 2,
            f"{at} should be a pair (features, label), got {type_name(item)}",
        )
        for part, name in zip(item, ("features", "label"), strict=True):
            expect(
                type(part) is torch.Tensor,
                f"the {name} of {at} should be a torch.Tensor, got {type_name(part)}",
            )
        expect_tensor(
            item[0],
            features[i],
            f"the features of {at}",
            wrong={INT64_FEATURES: lambda g: g.dtype == torch.int64},
        )
        expect_tensor(item[1], labels[i], f"the label of {at}")


@points(2)
def test_dataset_items(learner, rng):
    """TensorPairDataset gives (float32 features, int64 label) pairs from lists, tensors, numpy"""
    rows, cols = distinct_sizes(rng, 2, 3, 9)
    int_rows = torch.randint(-9, 10, (cols, cols), generator=rng)  # square: N == D
    float_rows = torch.randn(rows, cols, generator=rng)
    tensor_rows = torch.randn(rows, cols, generator=rng, dtype=torch.float64)
    labels = [torch.randint(0, 10, (n,), generator=rng) for n in (cols, rows, rows)]
    cases = [
        (int_rows.tolist(), labels[0].tolist()),
        (float_rows.tolist(), labels[1].tolist()),
        (tensor_rows, labels[2].to(torch.int32)),
    ]
    numpy_case = (random_seed(rng), size(rng, 3, 9), size(rng, 2, 6))
    reports = learner.scenario("dataset_items", cases, numpy_case)
    reports = observed(reports, list, length=len(cases) + 1)
    numpy_x, numpy_y = build_numpy_pair(*numpy_case)
    for report, (X, y) in zip(reports, [*cases, (numpy_x, numpy_y)], strict=True):
        if type(X) is type(numpy_x):
            what = f"X a float64 numpy array of shape {fmt_shape(X.shape)}, y an int32 numpy array"
        else:
            what = f"X {_describe(X)}, y {_describe(y)}"
        want_x = torch.as_tensor(X, dtype=torch.float32)  # (N, D)
        want_y = torch.as_tensor(y, dtype=torch.int64)  # (N,)
        _expect_items(report, want_x, want_y, what)


@points(1)
def test_dataset_length_mismatch(learner, rng):
    """TensorPairDataset raises ValueError when X and y have different lengths"""
    rows, cols = size(rng, 3, 9), size(rng)
    extra = size(rng, 1, 3)
    cases = []
    for n_x, n_y in [(rows + extra, rows), (rows, rows + extra)]:
        X = torch.randn(n_x, cols, generator=rng).tolist()
        cases.append((X, torch.randint(0, 10, (n_y,), generator=rng).tolist()))
    reports = observed(learner.scenario("dataset_items", cases), list, length=len(cases))
    for report, (X, y) in zip(reports, cases, strict=True):
        what = f"TensorPairDataset(X, y) with {len(X)} rows in X and {len(y)} labels in y"
        raised = observed(report, dict).get("raised")
        if raised is None:
            fail(
                f"{what} should raise ValueError, but it was created: the mismatch would only "
                "show later, as an IndexError deep inside a DataLoader, or never (zip stops at "
                "the shorter). Compare the lengths in __init__."
            )
        error = learner_error(what, raised)
        if error.error_type == "NotImplementedError":
            raise error
        expect(
            error.error_type == "ValueError",
            f"{error.message}\nA length mismatch should raise ValueError.",
        )


# ---- steps_per_epoch ----


@points(2)
def test_steps_per_epoch(learner, rng):
    """steps_per_epoch counts the batches of an epoch, short last batch included unless dropped"""
    cases = [(10_000, 128, False)]
    for drop_last in (False, True):
        batch_size = size(rng, 2, 512)
        full = size(rng, 1, 2000)
        cases += [
            (full * batch_size + size(rng, 1, batch_size - 1), batch_size, drop_last),
            (full * batch_size, batch_size, drop_last),  # no short batch
            (size(rng, 1, batch_size - 1), batch_size, drop_last),  # fewer examples than a batch
        ]
    outcomes = observed(learner.scenario("steps_table", cases), list, length=len(cases))
    for outcome, (n, batch_size, drop_last) in zip(outcomes, cases, strict=True):
        what = f"steps_per_epoch({n}, {batch_size}, drop_last={drop_last})"
        got = case_value(outcome, what)
        want = len(DataLoader(range(n), batch_size=batch_size, drop_last=drop_last))
        expect_number(
            got,
            want,
            f"{what} (len of a DataLoader with these settings)",
            kind=int,
            wrong={FLOOR_NOT_CEIL: n // batch_size},
        )


# ---- make_loader ----


def _run_loaders(learner, n: int, batch_size: int, configs: list, global_seed: int) -> dict:
    seen = learner.scenario("loader_run", n, batch_size, configs, global_seed)
    seen = observed(seen, dict, "types", "are_dataloaders", "batches", "states", "next_draw")
    for key in ("types", "are_dataloaders", "batches"):
        observed(seen[key], list, length=len(configs))
    states = observed(seen["states"], dict, "start", "created", "iterated")
    for state in [*states.values(), seen["next_draw"]]:
        observed(state, torch.Tensor)
    for kind, is_loader in zip(seen["types"], seen["are_dataloaders"], strict=True):
        expect(
            is_loader is True,
            f"make_loader should return a torch.utils.data.DataLoader, got {kind}",
        )
    return seen


def _loader_call(n: int, batch_size: int, shuffle: bool, seed: int) -> str:
    return f"make_loader(<dataset of {n} items>, {batch_size}, shuffle={shuffle}, seed={seed})"


def _order(batches: Any, n: int, batch_size: int, what: str) -> torch.Tensor:
    """The item order of one epoch, after checking it is batches of the right sizes covering
    every item once. The dataset's item i is the int i, so a batch is an int64 tensor of items."""
    sizes = [batch_size] * (n // batch_size) + [n % batch_size]  # n % batch_size > 0 here
    batches = observed(batches, list)
    expect(
        len(batches) == len(sizes),
        f"one epoch of {what} should give {len(sizes)} batches ({n} items in batches of "
        f"{batch_size}, the last one short), got {len(batches)}",
    )
    for k, (batch, want) in enumerate(zip(batches, sizes, strict=True)):
        is_tensor = type(batch) is torch.Tensor
        got = f"{batch.dtype} of shape {fmt_shape(batch.shape)}" if is_tensor else type_name(batch)
        expect(
            is_tensor and batch.dtype == torch.int64 and batch.shape == (want,),
            f"batch {k} of {what} should be {want} items, an int64 tensor of shape ({want},) "
            f"(the dataset's items are ints), got {got}",
        )
    order = torch.cat(batches)
    expect(
        torch.equal(order.sort().values, torch.arange(n)),
        f"one epoch of {what} should give every item exactly once, got {order.tolist()}",
    )
    return order


def _loader_sizes(rng: torch.Generator) -> tuple[int, int]:
    """A batch size, and a dataset size that leaves a short last batch and is large enough
    (n >= 13: n! orders) that two different seeds never give the same order by chance."""
    batch_size = size(rng, 3, 7)
    return size(rng, 4, 8) * batch_size + size(rng, 1, batch_size - 1), batch_size


def _two_seeds(rng: torch.Generator) -> list[int]:
    return [int(s) for s in torch.randperm(2**16, generator=rng)[:2]]


@points(1)
def test_loader_natural_order(learner, rng):
    """make_loader with shuffle=False batches the items in their natural order"""
    n, batch_size = _loader_sizes(rng)
    seed, global_seed = _two_seeds(rng)
    seen = _run_loaders(learner, n, batch_size, [(False, seed)], global_seed)
    what = _loader_call(n, batch_size, False, seed)
    batches = seen["batches"][0]
    if type(batches) is list and len(batches) == n // batch_size:
        fail(
            f"one epoch of {what} gave {len(batches)} batches: the last, short batch of "
            f"{n % batch_size} items is missing. Keep DataLoader's default drop_last=False."
        )
    expect(
        torch.equal(_order(batches, n, batch_size, what), torch.arange(n)),
        f"{what} should give the items in order 0, 1, 2, ...: pass shuffle on to the DataLoader",
    )


@points(2)
def test_loader_reproducible_order(learner, rng):
    """make_loader shuffles reproducibly: same seed, same order, also in a fresh process"""
    n, batch_size = _loader_sizes(rng)
    seed, other = _two_seeds(rng)
    configs = [(True, seed), (True, seed), (True, other)]
    what = _loader_call(n, batch_size, True, seed)
    orders = []
    for global_seed in _two_seeds(rng):  # each call is a fresh process, its global RNG elsewhere
        seen = _run_loaders(learner, n, batch_size, configs, global_seed)
        run = [
            _order(batches, n, batch_size, _loader_call(n, batch_size, *config))
            for batches, config in zip(seen["batches"], configs, strict=True)
        ]
        states = seen["states"]
        cause = GLOBAL_SEED if not torch.equal(states["start"], states["created"]) else NO_GENERATOR
        expect(
            not torch.equal(run[0], torch.arange(n)),
            f"{what} gave the items in their natural order: pass shuffle on to the DataLoader",
        )
        expect(
            torch.equal(run[0], run[1]),
            f"two loaders from {what}, both created and then both iterated, gave different "
            f"orders: {run[0].tolist()} and {run[1].tolist()}",
            cause,
        )
        expect(
            not torch.equal(run[0], run[2]),
            f"make_loader with seed={seed} and with seed={other} gave the same order "
            f"{run[0].tolist()}: the seed should choose the order",
        )
        orders.append(run[0])
    expect(
        torch.equal(orders[0], orders[1]),
        f"{what} gave {orders[0].tolist()} in one process and {orders[1].tolist()} in another: "
        "the same seed should give the same order in every run of the program",
        cause,
    )


@points(2)
def test_loader_leaves_global_rng(learner, rng):
    """make_loader leaves torch's global RNG untouched, while creating and iterating"""
    n, batch_size = _loader_sizes(rng)
    seed, global_seed = _two_seeds(rng)
    configs = [(True, seed), (False, seed + 1)]
    seen = _run_loaders(learner, n, batch_size, configs, global_seed)
    states = seen["states"]
    expect(
        torch.equal(states["start"], states["created"]),
        "creating loaders with make_loader changed torch's global RNG state",
        GLOBAL_SEED,
    )
    expect(
        torch.equal(states["created"], states["iterated"]),
        "iterating loaders from make_loader (one with shuffle=True, one with shuffle=False) "
        "changed torch's global RNG state",
        NO_GENERATOR,
    )
    expect_tensor(
        seen["next_draw"],
        torch.rand(8, generator=torch.Generator().manual_seed(global_seed)),
        "torch.rand(8) after creating and iterating the loaders (what it would be without them)",
    )
