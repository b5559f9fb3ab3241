"""ex02 · Fix the broadcasting bugs: reference solution."""

from torch import Tensor


def center_rows(x: Tensor) -> Tensor:
    return x - x.mean(dim=1, keepdim=True)  # (B, D) - (B, 1)


def scale_rows(x: Tensor, w: Tensor) -> Tensor:
    return x * w[:, None]  # (B, D) * (B, 1)


def mse(pred: Tensor, target: Tensor) -> Tensor:
    return ((pred.squeeze(1) - target) ** 2).mean()  # (B,) - (B,), not (B, 1) - (B,) = (B, B)


def pairwise_sq_dists(a: Tensor, b: Tensor) -> Tensor:
    diff = a[:, None, :] - b[None, :, :]  # (N, 1, D) - (1, M, D) -> (N, M, D)
    return (diff**2).sum(-1)  # (N, M)


def batch_matvec(m: Tensor, v: Tensor) -> Tensor:
    return v @ m.T  # (B, D) @ (D, D): row b is v[b] @ m.T = m @ v[b]
