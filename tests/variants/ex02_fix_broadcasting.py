"""Implementations of ex02 for our tests: each replaces functions of the reference."""

WRONG = {
    "ex02/missing-keepdim": """
def center_rows(x):
    return x - x.mean(dim=1)
""",
    "ex02/row-vector-weights": """
def scale_rows(x, w):
    return x * w
""",
    "ex02/outer-broadcast": """
def mse(pred, target):
    return ((pred - target) ** 2).mean()
""",
    "ex02/sum-not-mean": """
def mse(pred, target):
    return ((pred.squeeze(1) - target) ** 2).sum()
""",
    "ex02/no-new-axis": """
def pairwise_sq_dists(a, b):
    return ((a - b) ** 2).sum(-1)
""",
    "ex02/transposed-matvec": """
def batch_matvec(m, v):
    return v @ m
""",
    "ex02/python-loop": """
import torch

def center_rows(x):
    return torch.stack([row - row.mean() for row in x])
""",
}

RIGHT = {
    "unsqueeze and einsum": """
import torch

def center_rows(x):
    return x - x.sum(1).unsqueeze(1) / x.shape[1]

def scale_rows(x, w):
    return torch.einsum("bd,b->bd", x, w)

def mse(pred, target):
    return torch.nn.functional.mse_loss(pred.view(-1), target)

def pairwise_sq_dists(a, b):
    return torch.cdist(a, b) ** 2

def batch_matvec(m, v):
    return torch.einsum("ij,bj->bi", m, v)
""",
    "expansion and matmul": """
def center_rows(x):
    return x - x.mean(-1, keepdim=True)

def scale_rows(x, w):
    return w.view(-1, 1) * x

def mse(pred, target):
    return (pred.flatten() - target).pow(2).sum() / target.numel()

def pairwise_sq_dists(a, b):
    return (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T

def batch_matvec(m, v):
    return (m @ v.T).T
""",
}
