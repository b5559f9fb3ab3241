"""ex16 · Save and resume training: reference solution."""

from pathlib import Path

import torch
from torch import nn


def save_checkpoint(
    path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer, epoch: int, loss: float
) -> None:
    checkpoint = {
        "model": model.state_dict(),  # {name: tensor}, not the module object
        "optimizer": optimizer.state_dict(),  # AdamW's moments and step counts
        "epoch": epoch,  # the epoch that just finished
        "loss": loss,
    }
    torch.save(checkpoint, path)


def load_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> int:
    checkpoint = torch.load(path, weights_only=True)  # raises on anything but tensors and data
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    return checkpoint["epoch"] + 1  # resume at the next epoch
