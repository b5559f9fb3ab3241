"""ex18 · Sampling the next token: reference solution."""

import torch
from torch import Tensor


def top_k_filter(logits: Tensor, k: int) -> Tensor:
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1): the k-th largest per row
    return logits.masked_fill(logits < kth, float("-inf"))  # (..., V): ties with kth survive


def sample_next(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    if temperature == 0:
        return logits.argmax(dim=-1)  # (B,): greedy, no randomness
    if top_k is not None:
        logits = top_k_filter(logits, top_k)  # (B, V); dividing by temperature keeps the order
    probs = torch.softmax(logits / temperature, dim=-1)  # (B, V)
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(-1)  # (B,)
