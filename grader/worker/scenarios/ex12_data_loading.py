"""Scenarios for ex12_data_loading: build datasets from several kinds of input, tabulate
steps_per_epoch, and iterate the learner's loaders while watching torch's global RNG.

Each case of a batch is run on its own: an exception in one becomes data naming that case, so
one job serves many cases. The judge works out every expected value itself."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..runner import need
from .common import outcome


def build_numpy_pair(seed: int, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Features as float64 and labels as int32, numpy's usual dtypes; the judge builds the same."""
    gen = np.random.default_rng(seed)
    features = gen.integers(-40, 40, size=(rows, cols)) / 8  # eighths: exact in float32
    labels = gen.integers(0, 10, size=rows).astype(np.int32)
    return features, labels


def _dataset_report(module: types.ModuleType, build: Callable[[], Any], rows: int) -> dict:
    """Build the dataset, then its len and items 0..rows-1, each outcome on its own."""
    built = outcome(module, build)
    if "raised" in built:
        return built
    dataset = built["value"]
    return {
        "len": outcome(module, lambda: len(dataset)),
        "items": outcome(module, lambda: [dataset[i] for i in range(rows)]),
    }


def dataset_items(
    module: types.ModuleType,
    cases: list[tuple[Any, Any]],
    numpy_case: tuple[int, int, int] | None = None,
) -> list[dict[str, Any]]:
    """TensorPairDataset(X, y) for each (X, y) sent, then for numpy arrays built from
    numpy_case = (seed, rows, cols) if given: per case, its len and every item."""
    dataset = need(module, "TensorPairDataset")
    if numpy_case is not None:
        cases = [*cases, build_numpy_pair(*numpy_case)]
    return [_dataset_report(module, lambda X=X, y=y: dataset(X, y), len(X)) for X, y in cases]


def steps_table(
    module: types.ModuleType, cases: list[tuple[int, int, bool]]
) -> list[dict[str, Any]]:
    """steps_per_epoch(n, batch_size, drop_last) for each case."""
    steps = need(module, "steps_per_epoch")
    return [outcome(module, lambda case=case: steps(*case)) for case in cases]


class IndexDataset(Dataset):
    """Item i is the int i, so a batch shows which items it took, in which order."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return int(i)


def loader_run(
    module: types.ModuleType,
    n: int,
    batch_size: int,
    configs: list[tuple[bool, int]],
    global_seed: int,
) -> dict[str, Any]:
    """make_loader(dataset, batch_size, shuffle, seed) for each (shuffle, seed) in configs, all
    created first and iterated after, as a program does. Reports every loader's batches and the
    global RNG state at the start, after creating, after iterating, and a draw from it then."""
    make_loader = need(module, "make_loader")
    dataset = IndexDataset(n)
    torch.manual_seed(global_seed)  # a known start, so the judge knows what the next draw is
    start = torch.get_rng_state()
    loaders = [make_loader(dataset, batch_size, shuffle, seed) for shuffle, seed in configs]
    created = torch.get_rng_state()
    batches = [list(loader) for loader in loaders]
    iterated = torch.get_rng_state()
    return {
        "types": [f"{type(loader).__module__}.{type(loader).__qualname__}" for loader in loaders],
        "are_dataloaders": [isinstance(loader, DataLoader) for loader in loaders],
        "batches": batches,
        "states": {"start": start, "created": created, "iterated": iterated},
        "next_draw": torch.rand(8),
    }
