"""ex12 · Dataset and DataLoader (fill-in kata)

A Dataset answers two questions: how many examples (__len__) and what is
example i (__getitem__). A DataLoader does the rest: it picks the order
(shuffled or not), takes batch_size examples at a time, and stacks them:

    dataset[i]            -> (x, y)          x (D,) float32, y () int64
    for xb, yb in loader  -> xb (B, D), yb (B,)   B = batch_size, the last batch may be shorter

Dtypes: features feed nn.Linear, so float32 even when they arrive as ints;
labels are class ids for cross-entropy, so int64.

Steps per epoch: 10,000 examples in batches of 128 are 78 full batches and a
last one of 16, so 79 steps, unless drop_last=True throws the short one away.

Reproducible shuffling: torch.Generator().manual_seed(seed) is a private
random stream. Pass it as DataLoader(..., generator=g) and the same seed gives
the same order, in every run, whatever else the program draws.

The pitfall: without its own generator, a DataLoader draws from torch's
global RNG each time it is iterated (the shuffle order, and a base seed even
with shuffle=False). And calling torch.manual_seed(seed) in make_loader is no
fix: it resets the stream the rest of the program (init, dropout) draws from.
"""

from torch import Tensor
from torch.utils.data import DataLoader, Dataset


class TensorPairDataset(Dataset):
    """(features, label) pairs from X (N, D) and y (N,): lists, numpy arrays or tensors."""

    def __init__(self, X, y) -> None:
        """Store X as float32 (N, D) and y as int64 (N,); raise ValueError if N differs."""
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        """Example i: features (D,) float32 and label () int64."""
        raise NotImplementedError


def steps_per_epoch(n: int, batch_size: int, drop_last: bool = False) -> int:
    """How many batches one epoch over n examples takes, as len(DataLoader) says."""
    raise NotImplementedError


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool, seed: int) -> DataLoader:
    """A DataLoader whose order depends only on seed; leaves torch's global RNG untouched."""
    raise NotImplementedError
