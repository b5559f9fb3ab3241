"""ex18 · Sampling the next token (fill-in kata)

A language model gives one row of scores (logits) per sequence over a
vocabulary of V tokens; generating text means turning each row into one token.

Temperature reshapes the distribution before sampling: the probabilities are
softmax(logits / temperature). Below 1 the distribution gets sharper (the top
token wins more often), above 1 it gets flatter. Temperature 0 is the limit:
always the top token (greedy decoding, argmax), without dividing by zero.

Top-k cuts the tail: only the k highest-scoring tokens of a row may be drawn.
Set the other logits to -inf, so softmax gives them probability exactly 0.
Ties with the k-th largest score are kept too (so a row can keep more than k).

    top_k_filter:  (..., V) -> (..., V)   the last dim is the vocabulary
    sample_next:   (B, V)   -> (B,)       one int64 token id per row

Draw with torch.multinomial(probs, num_samples=1, generator=generator): it
takes (B, V) probabilities and gives (B, 1) indices. Passing the generator on
is what makes a run reproducible: the same seed gives the same tokens.

Pitfall: torch.topk(x, k).values[..., -1] is the k-th largest (index k - 1);
keeping `> kth` instead of `>= kth`, or reading index k of a sorted row, keeps
one token too few or too many.
"""

import torch
from torch import Tensor


def top_k_filter(logits: Tensor, k: int) -> Tensor:
    """Keep each row's k largest logits (and ties with the k-th), the rest -inf.
    logits: (..., V), 1 <= k <= V -> (..., V), a new tensor (logits unchanged)"""
    raise NotImplementedError


def sample_next(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """One token per row from softmax(logits / temperature), restricted to the top_k
    logits when top_k is given; temperature 0 means argmax.  logits: (B, V) -> (B,) int64"""
    raise NotImplementedError
