"""Implementations of ex10 for our tests: each replaces functions of the reference."""

WRONG = {
    "ex10/diagonal-masked": """
def causal_mask(T, device=None):
    return torch.triu(torch.ones(T, T, dtype=torch.bool, device=device))
""",
    "ex10/lower-triangle": """
def causal_mask(T, device=None):
    return torch.tril(torch.ones(T, T, dtype=torch.bool, device=device), diagonal=-1)
""",
    "ex10/device-ignored": """
def causal_mask(T, device=None):
    return torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)  # always on the CPU
""",
    "ex10/masked-fill-discarded": """
def masked_attention(scores):
    scores.masked_fill(causal_mask(scores.shape[-1], scores.device), float("-inf"))
    return scores.softmax(dim=-1)
""",
    "ex10/zero-not-inf": """
def masked_attention(scores):
    return scores.masked_fill(causal_mask(scores.shape[-1], scores.device), 0.0).softmax(-1)
""",
    "ex10/finite-fill": """
def masked_attention(scores):
    return scores.masked_fill(causal_mask(scores.shape[-1], scores.device), -30.0).softmax(-1)
""",
    "ex10/softmax-wrong-dim": """
def masked_attention(scores):
    mask = causal_mask(scores.shape[-1], scores.device)
    return scores.masked_fill(mask, float("-inf")).softmax(dim=1)
""",
    "ex10/modified-input": """
def masked_attention(scores):
    scores.masked_fill_(causal_mask(scores.shape[-1], scores.device), float("-inf"))
    return scores.softmax(dim=-1)
""",
}

RIGHT = {
    "arange comparison and where": """
import torch

def causal_mask(T, device=None):
    positions = torch.arange(T, device=device)
    return positions[None, :] > positions[:, None]

def masked_attention(scores):
    future = causal_mask(scores.size(-1), device=scores.device)
    hidden = torch.where(future, torch.tensor(float("-inf"), dtype=scores.dtype), scores)
    return torch.nn.functional.softmax(hidden, dim=-1)
""",
    "inverted tril, additive mask and clone": """
import torch

def causal_mask(T, device=None):
    return ~torch.tril(torch.ones(T, T, device=device)).bool()

def masked_attention(scores):
    T = scores.shape[-1]
    bias = torch.zeros(T, T, dtype=scores.dtype, device=scores.device)
    bias = bias.masked_fill(causal_mask(T, scores.device), float("-inf"))
    shifted = scores.clone()
    shifted += bias
    return torch.softmax(shifted, -1)
""",
    "manual exp, keep-mask and renormalise": """
import torch

def causal_mask(T, device=None):
    return torch.ones(T, T, dtype=torch.bool).triu(1).to(device)

def masked_attention(scores):
    keep = ~causal_mask(scores.shape[-1], scores.device)
    top = scores.masked_fill(~keep, torch.finfo(scores.dtype).min).amax(-1, keepdim=True)
    exps = torch.where(keep, (scores - top).exp(), 0.0)
    return exps / exps.sum(-1, keepdim=True)
""",
}
