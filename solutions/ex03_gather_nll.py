"""ex03 · Negative log-likelihood with gather: reference solution."""

from torch import Tensor


def _reduce(losses: Tensor, reduction: str, count: Tensor | int) -> Tensor:
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    if reduction == "mean":
        return losses.sum() / count  # count: how many positions take part
    raise ValueError(f"unknown reduction {reduction!r}: use 'mean', 'sum' or 'none'")


def nll_loss(log_probs: Tensor, targets: Tensor, reduction: str = "mean") -> Tensor:
    picked = log_probs.gather(1, targets[:, None]).squeeze(1)  # (N, C) -> (N,)
    return _reduce(-picked, reduction, targets.numel())


def cross_entropy(
    logits: Tensor, targets: Tensor, reduction: str = "mean", ignore_index: int = -100
) -> Tensor:
    num_classes = logits.shape[-1]
    log_probs = logits.reshape(-1, num_classes).log_softmax(-1)  # (..., C) -> (N, C), stable
    flat = targets.reshape(-1)  # (N,)
    keep = flat != ignore_index  # (N,)
    safe = flat.where(keep, 0)  # ignore_index is no class: gather class 0 there, then drop it
    losses = -log_probs.gather(1, safe[:, None]).squeeze(1) * keep  # (N,), 0 where ignored
    return _reduce(losses.reshape(targets.shape), reduction, keep.sum())  # mean over kept only
