"""Implementations of ex05 for our tests: each replaces functions of the reference."""

WRONG = {
    "ex05/rebinding": """
def sgd_step(params, lr, weight_decay=0.0):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p = p - lr * (p.grad + weight_decay * p)
""",
    "ex05/no-no-grad": """
def sgd_step(params, lr, weight_decay=0.0):
    for p in params:
        if p.grad is not None:
            p -= lr * (p.grad + weight_decay * p)
""",
    "ex05/wrong-sign": """
def sgd_step(params, lr, weight_decay=0.0):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p += lr * (p.grad + weight_decay * p)
""",
    "ex05/none-grad-crash": """
def sgd_step(params, lr, weight_decay=0.0):
    with torch.no_grad():
        for p in params:
            p -= lr * (p.grad + weight_decay * p)
""",
    "ex05/weight-decay": """
def sgd_step(params, lr, weight_decay=0.0):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p -= lr * p.grad + weight_decay * p
""",
    "ex05/grads-not-cleared": """
def fit_line(x, y, lr=0.1, steps=200):
    w = torch.zeros((), requires_grad=True)
    b = torch.zeros((), requires_grad=True)
    for _ in range(steps):
        ((w * x + b - y) ** 2).mean().backward()
        sgd_step([w, b], lr)
    return w.item(), b.item()
""",
    "ex05/sum-not-mean": """
def fit_line(x, y, lr=0.1, steps=200):
    w = torch.zeros((), requires_grad=True)
    b = torch.zeros((), requires_grad=True)
    for _ in range(steps):
        ((w * x + b - y) ** 2).sum().backward()
        sgd_step([w, b], lr)
        zero_grad([w, b])
    return w.item(), b.item()
""",
    "ex05/grad-modified": """
def sgd_step(params, lr, weight_decay=0.0):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p.grad += weight_decay * p
                p -= lr * p.grad
""",
    "ex05/generator-reused": """
def sgd_step(params, lr, weight_decay=0.0):
    with torch.no_grad():
        if weight_decay:
            for p in params:
                if p.grad is not None:
                    p.mul_(1 - lr * weight_decay)
        for p in params:
            if p.grad is not None:
                p.sub_(lr * p.grad)
""",
}

RIGHT = {
    "sub_ with alpha, zeroed grads, mse_loss": """
import torch.nn.functional as F

def sgd_step(params, lr, weight_decay=0.0):
    with torch.no_grad():
        for p in params:
            if p.grad is None:
                continue
            step = p.grad.add(p, alpha=weight_decay) if weight_decay else p.grad
            p.sub_(step, alpha=lr)

def zero_grad(params):
    for p in params:
        if p.grad is not None:
            p.grad.detach_()
            p.grad.zero_()

def fit_line(x, y, lr=0.1, steps=200):
    w = torch.zeros(1, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    for _ in range(steps):
        zero_grad([w, b])
        F.mse_loss(w * x + b, y).backward()
        sgd_step([w, b], lr)
    w, b = torch.cat([w, b]).tolist()
    return w, b
""",
    "decorator, decoupled decay, one (2,) parameter in float64": """
@torch.no_grad()
def sgd_step(params, lr, weight_decay=0.0):
    for p in [q for q in params if q.grad is not None]:
        grad = p.grad.clone()
        p.mul_(1 - lr * weight_decay)
        p.add_(-lr * grad)

def zero_grad(params):
    for p in params:
        p.grad = None

def fit_line(x, y, lr=0.1, steps=200):
    theta = torch.zeros(2, dtype=torch.float64, requires_grad=True)  # (w, b)
    x, y = x.double(), y.double()
    for step in range(steps):
        if step:
            zero_grad(iter([theta]))
        pred = theta[0] * x + theta[1]
        ((pred - y) ** 2).sum().div(len(x)).backward()
        sgd_step(iter([theta]), lr)
    w, b = theta.tolist()
    return w, b
""",
}
