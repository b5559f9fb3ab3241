"""ex15 · Train/eval mode and no_grad (fill-in kata)

A model behaves differently while it learns and while it is measured. Two
switches control that, and they are independent:

- model.train() / model.eval() set the MODE of every submodule. In train mode
  dropout zeroes random activations and batch norm normalizes with the
  current batch's statistics (and updates its running averages); in eval mode
  dropout does nothing and batch norm uses the running averages, so the same
  input always gives the same output. model.training tells the current mode.
- torch.no_grad() turns off graph recording: outputs do not require grad, no
  activations are kept for a backward pass, and memory stays low.

Evaluation needs both. And it should be polite: a model that came in training
mode must leave in training mode (the training loop that called evaluate
carries on), one that came in eval mode must stay in eval mode.

    batches: (x, y) pairs, x (B, ...) inputs, y (B,) int64 class ids
    model(x) -> (B, C) logits

Call the module, model(x), not model.forward(x): nn.Module.__call__ runs the
hooks registered on the model around its forward (code that logs, checks or
changes a model's inputs and outputs adds them), and model.forward(x) skips
them.

The pitfall: a DataLoader's last batch is usually short. 10 batches of 100 at
80% and a last one of 2 at 0% are 800 / 1002 = 79.8% correct, while the mean
of the per-batch accuracies says 72.7%. Count correct examples and examples.
"""

from collections.abc import Iterable

from torch import Tensor, nn


def evaluate(model: nn.Module, batches: Iterable[tuple[Tensor, Tensor]]) -> float:
    """Accuracy (a Python float in [0, 1]) over all examples in batches: the predicted
    class is the argmax of the logits. Eval mode, no_grad, and the model's mode restored."""
    raise NotImplementedError


def predict_proba(model: nn.Module, x: Tensor) -> Tensor:
    """Softmax probabilities of the classes.  x: (N, ...) -> (N, C), each row sums to 1.
    Eval mode, no_grad, and the model's mode restored."""
    raise NotImplementedError
