"""Implementations of ex09 for our tests: each replaces functions of the reference."""

WRONG = {
    "ex09/no-max-shift": """
def softmax(x, dim=-1):
    exps = x.exp()
    return exps / exps.sum(dim=dim, keepdim=True)
""",
    "ex09/missing-keepdim": """
def softmax(x, dim=-1):
    exps = (x - x.amax(dim=dim)).exp()
    return exps / exps.sum(dim=dim)
""",
    "ex09/log-of-softmax": """
def log_softmax(x, dim=-1):
    return softmax(x, dim).log()
""",
    "ex09/wrong-dim": """
def logsumexp(x, dim=-1, keepdim=False):
    top = x.amax(dim=-1, keepdim=True)
    total = top + (x - top).exp().sum(dim=-1, keepdim=True).log()
    return total if keepdim else total.squeeze(-1)
""",
    "ex09/forbidden-call": """
import torch

def softmax(x, dim=-1):
    return x.softmax(dim)
""",
}

RIGHT = {
    "everything from logsumexp, max().values and unsqueeze": """
import torch

def logsumexp(x, dim=-1, keepdim=False):
    top = x.max(dim=dim).values.detach()  # the shift needs no gradient: it cancels
    total = top + torch.log(torch.sum(torch.exp(x - top.unsqueeze(dim)), dim=dim))
    return total.unsqueeze(dim) if keepdim else total

def log_softmax(x, dim=-1):
    return x - logsumexp(x, dim, keepdim=True)

def softmax(x, dim=-1):
    return torch.exp(log_softmax(x, dim))
""",
    "dim moved last, then [..., None]": """
def _last(x, dim):
    return x.movedim(dim, -1)

def softmax(x, dim=-1):
    z = _last(x, dim)
    exps = (z - z.max(-1).values[..., None]).exp()
    return (exps / exps.sum(-1)[..., None]).movedim(-1, dim)

def log_softmax(x, dim=-1):
    z = _last(x, dim)
    shifted = z - z.amax(-1)[..., None]
    return (shifted - shifted.exp().sum(-1).log()[..., None]).movedim(-1, dim)

def logsumexp(x, dim=-1, keepdim=False):
    z = _last(x, dim)
    top = z.amax(-1)
    total = top + (z - top[..., None]).exp().sum(-1).log()
    return total.unsqueeze(dim) if keepdim else total
""",
}
