"""Implementations of ex03 for our tests: each replaces functions of the reference."""

WRONG = {
    "ex03/log-of-softmax": """
def cross_entropy(logits, targets, reduction="mean", ignore_index=-100):
    keep = targets != ignore_index
    probs = logits.softmax(-1)
    picked = probs.gather(-1, targets.where(keep, 0).unsqueeze(-1)).squeeze(-1)
    return _reduce(-picked.log() * keep, reduction, keep.sum())
""",
    "ex03/gather-wrong-dim": """
def nll_loss(log_probs, targets, reduction="mean"):
    picked = log_probs.gather(0, targets[None, :]).squeeze(0)
    return _reduce(-picked, reduction, targets.numel())
""",
    "ex03/missing-minus": """
def nll_loss(log_probs, targets, reduction="mean"):
    picked = log_probs.gather(1, targets[:, None]).squeeze(1)
    return _reduce(picked, reduction, targets.numel())
""",
    "ex03/sum-not-mean": """
def _reduce(losses, reduction, count):
    if reduction == "none":
        return losses
    if reduction in ("sum", "mean"):
        return losses.sum()
    raise ValueError(reduction)
""",
    "ex03/leading-dims": """
def cross_entropy(logits, targets, reduction="mean", ignore_index=-100):
    keep = targets != ignore_index
    log_probs = logits.log_softmax(-1)
    picked = log_probs.gather(1, targets.where(keep, 0)[:, None]).squeeze(1)
    return _reduce(-picked * keep, reduction, keep.sum())
""",
    "ex03/softmax-wrong-dim": """
def cross_entropy(logits, targets, reduction="mean", ignore_index=-100):
    log_probs = logits.log_softmax(1).reshape(-1, logits.shape[-1])
    flat = targets.reshape(-1)
    keep = flat != ignore_index
    losses = -log_probs.gather(1, flat.where(keep, 0)[:, None]).squeeze(1) * keep
    return _reduce(losses.reshape(targets.shape), reduction, keep.sum())
""",
    "ex03/ignored-in-mean": """
def cross_entropy(logits, targets, reduction="mean", ignore_index=-100):
    log_probs = logits.log_softmax(-1)
    keep = targets != ignore_index
    picked = log_probs.gather(-1, targets.where(keep, 0)[..., None]).squeeze(-1)
    return _reduce(-picked * keep, reduction, targets.numel())
""",
    "ex03/ignored-not-masked": """
def cross_entropy(logits, targets, reduction="mean", ignore_index=-100):
    log_probs = logits.log_softmax(-1)
    picked = log_probs.gather(-1, targets[..., None]).squeeze(-1)
    return _reduce(-picked, reduction, targets.numel())
""",
    "ex03/forbidden-call": """
import torch.nn.functional as F

def cross_entropy(logits, targets, reduction="mean", ignore_index=-100):
    losses = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
        reduction=reduction, ignore_index=ignore_index,
    )
    return losses.reshape(targets.shape) if reduction == "none" else losses
""",
}

RIGHT = {
    "indexing and a hand-made logsumexp": """
import torch

def _check(reduction):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"bad reduction {reduction}")

def nll_loss(log_probs, targets, reduction="mean"):
    _check(reduction)
    losses = -log_probs[torch.arange(len(targets)), targets]
    return {"none": losses, "sum": losses.sum(), "mean": losses.mean()}[reduction]

def cross_entropy(logits, targets, reduction="mean", ignore_index=-100):
    _check(reduction)
    classes = logits.shape[-1]
    x = logits.reshape(-1, classes)
    t = targets.reshape(-1)
    shifted = x - x.amax(-1, keepdim=True)
    log_probs = shifted - shifted.exp().sum(-1, keepdim=True).log()
    keep = t != ignore_index
    picked = log_probs[torch.arange(len(t)), t.clamp(0, classes - 1)]
    losses = torch.where(keep, -picked, torch.zeros_like(picked))
    if reduction == "none":
        return losses.view(targets.shape)
    return losses.sum() if reduction == "sum" else losses.sum() / keep.sum()
""",
    "one-hot and einsum over any leading dims": """
import torch
import torch.nn.functional as F

def nll_loss(log_probs, targets, reduction="mean"):
    return _pick(log_probs, targets, torch.ones_like(targets, dtype=torch.bool), reduction)

def _pick(log_probs, targets, keep, reduction):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(reduction)
    one_hot = F.one_hot(targets.masked_fill(~keep, 0), log_probs.shape[-1])
    weights = one_hot.to(log_probs.dtype) * keep[..., None]
    losses = -torch.einsum("...c,...c->...", log_probs, weights)
    if reduction == "mean":
        return losses.sum() / keep.sum()
    return losses.sum() if reduction == "sum" else losses

def cross_entropy(logits, targets, reduction="mean", ignore_index=-100):
    log_probs = logits - logits.logsumexp(-1, keepdim=True)
    return _pick(log_probs, targets, targets != ignore_index, reduction)
""",
}
