"""Implementations of ex22 for our tests: each replaces functions of the reference."""

WRONG = {
    "ex22/cat-for-stack": """
def batch_sequences(seqs):
    if len({s.shape for s in seqs}) > 1:
        raise ValueError("shapes differ")
    return torch.cat(list(seqs), dim=0)
""",
    "ex22/stack-for-cat": """
def join_sequences(seqs):
    return torch.stack(list(seqs))
""",
    "ex22/mask-inverted": """
def pad_sequences(seqs, pad_value=0.0):
    padded = torch.nn.utils.rnn.pad_sequence(list(seqs), batch_first=True, padding_value=pad_value)
    lengths = torch.tensor([len(s) for s in seqs])
    return padded, torch.arange(padded.shape[1]) >= lengths[:, None]
""",
    "ex22/shape-kept": """
def select(x, mask):
    return x * mask
""",
    "ex22/values-only": """
def row_max(x):
    return x.max(dim=-1).values
""",
    "ex22/modified-input": """
def zero_where(x, mask):
    x[mask] = 0
    return x
""",
}

RIGHT = {
    "unsqueeze and cat, pad_sequence, masked_select, where, amax and argmax": """
import torch
from torch.nn.utils.rnn import pad_sequence

def batch_sequences(seqs):
    if any(s.shape != seqs[0].shape for s in seqs):
        raise ValueError("every sequence needs the same shape")
    return torch.cat([s.unsqueeze(0) for s in seqs], dim=0)

def join_sequences(seqs):
    return torch.vstack(seqs)

def pad_sequences(seqs, pad_value=0.0):
    padded = pad_sequence(list(seqs), batch_first=True, padding_value=pad_value)
    lengths = torch.tensor([s.shape[0] for s in seqs])
    mask = torch.arange(padded.shape[1])[None, :] < lengths[:, None]
    return padded, mask

def select(x, mask):
    return torch.masked_select(x, mask)

def zero_where(x, mask):
    return torch.where(mask, torch.zeros_like(x), x)

def row_max(x):
    return x.amax(dim=-1), x.argmax(dim=-1)
""",
    "loops into preallocated tensors, clone and assign, torch.max's named tuple": """
import torch

def batch_sequences(seqs):
    T, C = seqs[0].shape
    out = torch.empty(len(seqs), T, C, dtype=seqs[0].dtype)
    for b, s in enumerate(seqs):
        if s.shape != (T, C):
            raise ValueError(f"sequence {b} is {tuple(s.shape)}, not {(T, C)}")
        out[b] = s
    return out

def join_sequences(seqs):
    out = torch.empty(sum(len(s) for s in seqs), seqs[0].shape[1], dtype=seqs[0].dtype)
    start = 0
    for s in seqs:
        out[start : start + len(s)] = s
        start += len(s)
    return out

def pad_sequences(seqs, pad_value=0.0):
    T_max = max(s.shape[0] for s in seqs)
    padded = torch.full((len(seqs), T_max, seqs[0].shape[1]), pad_value, dtype=seqs[0].dtype)
    mask = torch.zeros(len(seqs), T_max, dtype=torch.bool)
    for b, s in enumerate(seqs):
        padded[b, : s.shape[0]] = s
        mask[b, : s.shape[0]] = True
    return padded, mask

def select(x, mask):
    return x.reshape(-1)[mask.reshape(-1)]

def zero_where(x, mask):
    out = x.clone()
    out[mask] = 0
    return out

def row_max(x):
    return torch.max(x, dim=-1)
""",
    "stack behind try, concat, nonzero indexing, multiply, sort": """
import torch

def batch_sequences(seqs):
    try:
        return torch.stack(tuple(seqs))
    except RuntimeError as error:
        raise ValueError(str(error)) from error

def join_sequences(seqs):
    return torch.concat(tuple(seqs), dim=-2)

def pad_sequences(seqs, pad_value=0.0):
    lengths = [len(s) for s in seqs]
    T_max, C = max(lengths), seqs[0].shape[-1]
    rows = [torch.cat([s, s.new_full((T_max - len(s), C), pad_value)]) for s in seqs]
    mask = torch.stack([torch.arange(T_max) < n for n in lengths])
    return torch.stack(rows), mask

def select(x, mask):
    return x[mask.nonzero(as_tuple=True)]

def zero_where(x, mask):
    return x * ~mask

def row_max(x):
    ranked = x.sort(dim=-1, descending=True)
    return ranked.values[..., 0], ranked.indices[..., 0]
""",
}
