"""ex12 · Dataset and DataLoader: reference solution."""

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset


class TensorPairDataset(Dataset):
    def __init__(self, X, y) -> None:
        self.X = torch.as_tensor(X, dtype=torch.float32)  # (N, D): int features become floats
        self.y = torch.as_tensor(y, dtype=torch.int64)  # (N,): class ids for cross-entropy
        if len(self.X) != len(self.y):
            raise ValueError(f"X has {len(self.X)} rows but y has {len(self.y)} labels")

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return self.X[i], self.y[i]  # (D,), ()


def steps_per_epoch(n: int, batch_size: int, drop_last: bool = False) -> int:
    if drop_last:
        return n // batch_size
    return -(-n // batch_size)  # ceil in integers: the short last batch counts


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool, seed: int) -> DataLoader:
    generator = torch.Generator().manual_seed(seed)  # private stream: the global RNG is untouched
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator)
