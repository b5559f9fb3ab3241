"""Implementations of ex18 for our tests: each replaces functions of the reference."""

WRONG = {
    "ex18/temperature-multiplied": """
def sample_next(logits, temperature=1.0, top_k=None, generator=None):
    if temperature == 0:
        return logits.argmax(dim=-1)
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    probs = torch.softmax(logits * temperature, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
""",
    "ex18/k-off-by-one": """
def top_k_filter(logits, k):
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits <= kth, float("-inf"))
""",
    "ex18/generator-ignored": """
def sample_next(logits, temperature=1.0, top_k=None, generator=None):
    if temperature == 0:
        return logits.argmax(dim=-1)
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    probs = torch.softmax(logits / temperature, dim=-1)
    return torch.multinomial(probs, 1).squeeze(-1)
""",
}

RIGHT = {
    "sort and narrow, filter after scaling, F.softmax": """
import torch.nn.functional as F

def top_k_filter(logits, k):
    kth = logits.sort(dim=-1, descending=True).values.narrow(-1, k - 1, 1)
    return torch.where(logits >= kth, logits, torch.full_like(logits, float("-inf")))

def sample_next(logits, temperature=1.0, top_k=None, generator=None):
    if not temperature:
        return logits.max(dim=-1).indices
    scaled = logits / temperature
    if top_k:
        scaled = top_k_filter(scaled, top_k)
    return torch.multinomial(F.softmax(scaled, dim=-1), 1, generator=generator)[:, 0]
""",
    "kthvalue, clone and index, Gumbel-max": """
def top_k_filter(logits, k):
    width = logits.shape[-1]
    kth = logits.kthvalue(width - k + 1, dim=-1, keepdim=True).values
    out = logits.clone()
    out[logits < kth] = float("-inf")
    return out

def sample_next(logits, temperature=1.0, top_k=None, generator=None):
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if temperature == 0:
        return torch.argmax(logits, dim=1)
    uniform = torch.rand(logits.shape, generator=generator).clamp_min(1e-20)
    gumbel = -torch.log(-torch.log(uniform))
    return (logits / temperature + gumbel).argmax(dim=1)
""",
}
