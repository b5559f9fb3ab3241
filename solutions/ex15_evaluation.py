"""ex15 · Train/eval mode and no_grad: reference solution."""

from collections.abc import Iterable

import torch
from torch import Tensor, nn


def evaluate(model: nn.Module, batches: Iterable[tuple[Tensor, Tensor]]) -> float:
    was_training = model.training
    model.eval()  # dropout off, batch norm uses its running statistics
    correct, total = 0, 0
    with torch.no_grad():  # no graph: nothing here will be backpropagated
        for x, y in batches:  # x: (B, ...), y: (B,) class ids; the last B may be smaller
            predicted = model(x).argmax(dim=-1)  # (B, C) -> (B,)
            correct += int((predicted == y).sum())
            total += y.numel()
    model.train(was_training)  # hand the model back in the mode it came in
    return correct / total  # over examples: a short last batch weighs what its size says


def predict_proba(model: nn.Module, x: Tensor) -> Tensor:
    was_training = model.training
    model.eval()
    with torch.no_grad():
        probs = model(x).softmax(dim=-1)  # (N, C), each row sums to 1
    model.train(was_training)
    return probs
