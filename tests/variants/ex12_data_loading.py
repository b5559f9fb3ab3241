"""Implementations of ex12 for our tests: each replaces definitions of the reference."""

WRONG = {
    "ex12/floor-not-ceil": """
def steps_per_epoch(n, batch_size, drop_last=False):
    return n // batch_size
""",
    "ex12/int64-features": """
class TensorPairDataset(Dataset):
    def __init__(self, X, y):
        self.X = torch.as_tensor(X)
        self.y = torch.as_tensor(y, dtype=torch.int64)
        if len(self.X) != len(self.y):
            raise ValueError("X and y differ in length")

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.X[i], self.y[i]
""",
    "ex12/no-generator": """
def make_loader(dataset, batch_size, shuffle, seed):
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle)
""",
    "ex12/global-seed": """
def make_loader(dataset, batch_size, shuffle, seed):
    torch.manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle)
""",
}

RIGHT = {
    "numpy arrays, math, explicit samplers": """
import math

import numpy as np
from torch.utils.data import BatchSampler, RandomSampler, SequentialSampler

class TensorPairDataset(Dataset):
    def __init__(self, X, y):
        self.X = torch.from_numpy(np.asarray(X, dtype=np.float32))
        self.y = torch.from_numpy(np.asarray(y, dtype=np.int64))
        if self.X.shape[0] != self.y.shape[0]:
            raise ValueError("X and y need one label per row")

    def __len__(self):
        return self.X.shape[0]

    def __getitem__(self, i):
        return (self.X[i], self.y[i])

def steps_per_epoch(n, batch_size, drop_last=False):
    return math.floor(n / batch_size) if drop_last else math.ceil(n / batch_size)

def make_loader(dataset, batch_size, shuffle, seed):
    g = torch.Generator()
    g.manual_seed(seed)
    sampler = RandomSampler(dataset, generator=g) if shuffle else SequentialSampler(dataset)
    return DataLoader(dataset, batch_sampler=BatchSampler(sampler, batch_size, False), generator=g)
""",
    "stored pairs, divmod, precomputed order": """
class TensorPairDataset(Dataset):
    def __init__(self, X, y):
        rows = [torch.as_tensor(row, dtype=torch.float32) for row in X]
        labels = torch.as_tensor(y).long()
        if len(rows) != len(labels):
            raise ValueError(f"{len(rows)} feature rows, {len(labels)} labels")
        self.pairs = list(zip(rows, labels))

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, i):
        return self.pairs[i]

def steps_per_epoch(n, batch_size, drop_last=False):
    full, rest = divmod(n, batch_size)
    return full + int(rest > 0 and not drop_last)

def make_loader(dataset, batch_size, shuffle, seed):
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(dataset), generator=g).tolist() if shuffle else None
    return DataLoader(dataset, batch_size=batch_size, sampler=order, generator=g)
""",
}
