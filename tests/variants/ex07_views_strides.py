"""Implementations of ex07 for our tests: each replaces functions of the reference."""

WRONG = {
    "ex07/no-transpose": """
def split_heads(x, n_heads):
    B, T, C = x.shape
    if C % n_heads:
        raise ValueError("uneven heads")
    return x.view(B, n_heads, T, C // n_heads)
""",
    "ex07/view-non-contiguous": """
def merge_heads(x):
    B, H, T, hd = x.shape
    return x.transpose(1, 2).view(B, T, H * hd)
""",
    "ex07/reversed-strides": """
def row_major_strides(shape):
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= size
    return tuple(strides)
""",
    "ex07/own-dim-in-stride": """
def row_major_strides(shape):
    strides, step = [], 1
    for size in reversed(shape):
        step *= size
        strides.append(step)
    return tuple(reversed(strides))
""",
    "ex07/non-contiguous-result": """
def merge_heads(x):
    return x.transpose(1, 2).flatten(2)
""",
}

RIGHT = {
    "products and permute": """
import math

def row_major_strides(shape):
    return tuple(math.prod(shape[d + 1 :]) for d in range(len(shape)))

def flat_offset(index, strides):
    offset = 0
    for d in range(len(index)):
        offset += index[d] * strides[d]
    return offset

def split_heads(x, n_heads):
    if x.shape[-1] % n_heads != 0:
        raise ValueError(f"n_heads={n_heads} does not divide C={x.shape[-1]}")
    return x.unflatten(-1, (n_heads, -1)).permute(0, 2, 1, 3)

def merge_heads(x):
    return x.permute(0, 2, 1, 3).flatten(2).contiguous()
""",
    "accumulate, stack and cat": """
from itertools import accumulate
import operator
import torch

def row_major_strides(shape):
    sizes_after = list(accumulate(reversed(shape), operator.mul, initial=1))[:-1]
    return tuple(reversed(sizes_after))

def flat_offset(index, strides):
    return int(torch.tensor(list(index)) @ torch.tensor(list(strides)))

def split_heads(x, n_heads):
    C = x.shape[-1]
    if C % n_heads:
        raise ValueError("channels must divide evenly into heads")
    return torch.stack(x.split(C // n_heads, dim=-1), dim=1)

def merge_heads(x):
    return torch.cat(x.unbind(1), dim=-1)
""",
    "movedim and clone": """
import torch

def row_major_strides(shape):
    strides = [1] * len(shape)
    for d in range(len(shape) - 2, -1, -1):
        strides[d] = strides[d + 1] * shape[d + 1]
    return tuple(strides)

def flat_offset(index, strides):
    return sum(map(lambda i, s: i * s, index, strides))

def split_heads(x, n_heads):
    B, T, C = x.shape
    if C % n_heads:
        raise ValueError(f"{C} % {n_heads} != 0")
    return x.reshape(B, T, n_heads, C // n_heads).movedim(2, 1)

def merge_heads(x):
    B, H, T, hd = x.shape
    return x.movedim(1, 2).reshape(B, T, H * hd).clone(memory_format=torch.contiguous_format)
""",
}
