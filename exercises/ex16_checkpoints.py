"""ex16 · Save and resume training (fill-in kata)

Long training runs get interrupted: a crash, a time limit, a preempted machine. A
checkpoint saves everything needed to carry on as if nothing had happened:

    model.state_dict()       {name: tensor}: every parameter and buffer
    optimizer.state_dict()   {"state": ..., "param_groups": ...}: AdamW's step count and
                             running averages (exp_avg, exp_avg_sq) per parameter, and its lr
    epoch, loss              where training was, and how it was going

torch.save(obj, path) writes a dict of these; torch.load(path, weights_only=True) reads it
back, and model.load_state_dict(...) / optimizer.load_state_dict(...) copy the values into
objects that a restarted program has built afresh. Done right, 2 epochs + save + load + 2
epochs gives exactly the same weights as 4 epochs in one go. Exactly, because this loop draws
no random numbers (the same batches in the same order, no dropout): with shuffling or dropout
the random number generators' state (torch.get_rng_state(), and g.get_state() for a
generator g given to a DataLoader) belongs in the checkpoint too, or the resumed run draws
other numbers.

`epoch` is the index of the epoch that just finished, as in `for epoch in range(n)`: a
checkpoint saved with epoch=1 resumes at epoch 2.

Pitfalls:
- saving only the model: AdamW then restarts from zero momentum and the run changes course;
- torch.save(model): that pickles the object, and loading it needs weights_only=False;
- weights_only=False: unpickling can run any code a file carries. Never load checkpoints
  that way; with weights_only=True a tampered file raises instead.
"""

from pathlib import Path

import torch
from torch import nn


def save_checkpoint(
    path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer, epoch: int, loss: float
) -> None:
    """Save the model's and the optimizer's state, the finished epoch and its loss to `path`."""
    raise NotImplementedError


def load_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> int:
    """Load a checkpoint safely into `model` and `optimizer`; return the epoch to resume from."""
    raise NotImplementedError
