"""Implementations of ex21 for our tests: each replaces functions of the reference."""

WRONG = {
    "ex21/summed-output": """
def vjp(f, x, v):
    x = x.detach().requires_grad_(True)
    f(x).sum().backward()  # every output weighted by 1
    return x.grad
""",
    "ex21/no-requires-grad": """
def vjp(f, x, v):
    (grad,) = torch.autograd.grad(f(x), x, grad_outputs=v)
    return grad
""",
    "ex21/grad-left-on-x": """
def vjp(f, x, v):
    x.requires_grad_(True)
    f(x).backward(gradient=v)
    return x.grad
""",
    "ex21/no-retain-graph": """
def grad_twice(f, x):
    loss = f(x).sum()
    loss.backward()
    first = x.grad.clone()
    loss.backward()
    return first, x.grad
""",
    "ex21/graph-rebuilt": """
def grad_twice(f, x):
    f(x).sum().backward()
    first = x.grad.clone()
    f(x).sum().backward()
    return first, x.grad
""",
    "ex21/grad-not-cloned": """
def grad_twice(f, x):
    loss = f(x).sum()
    loss.backward(retain_graph=True)
    first = x.grad
    loss.backward()
    return first, x.grad
""",
    "ex21/target-not-detached": """
def bootstrap_loss(model, x, x_next, reward, gamma):
    return ((model(x) - (reward + gamma * model(x_next))) ** 2).mean()
""",
    "ex21/nothing-frozen": """
def freeze(model, prefixes):
    with torch.no_grad():  # thought to stop the training of what is inside
        frozen = [p for name, p in model.named_parameters() if name.startswith(tuple(prefixes))]
    return [p for p in model.parameters() if p.requires_grad and all(p is not q for q in frozen)]
""",
    "ex21/numpy-requires-grad": """
def to_numpy(t):
    return t.cpu().numpy()
""",
}

RIGHT = {
    "backward(gradient=v), no_grad target, requires_grad flag, numpy(force=True)": """
import numpy as np
import torch

def vjp(f, x, v):
    leaf = x.clone().detach()
    leaf.requires_grad = True
    f(leaf).backward(gradient=v)
    return leaf.grad

def grad_twice(f, x):
    loss = f(x).sum()
    torch.autograd.backward(loss, retain_graph=True)
    first = x.grad.detach().clone()
    torch.autograd.backward(loss)
    return (first, x.grad.clone())

def bootstrap_loss(model, x, x_next, reward, gamma):
    with torch.no_grad():
        target = reward + gamma * model(x_next)
    return torch.nn.functional.mse_loss(model(x), target)

def freeze(model, prefixes):
    for name, p in model.named_parameters():
        if any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes):
            p.requires_grad = False
    return list(filter(lambda p: p.requires_grad, model.parameters()))

def to_numpy(t):
    return t.numpy(force=True)
""",
    "torch.func.vjp, one batch for both states, a set of names, np.asarray": """
import numpy as np
import torch

def vjp(f, x, v):
    _, pullback = torch.func.vjp(f, x.detach())
    return pullback(v)[0]

def grad_twice(f, x):
    loss = f(x).sum()
    loss.backward(retain_graph=True)
    snapshot = torch.empty_like(x.grad).copy_(x.grad)
    loss.backward()
    return snapshot, x.grad

def bootstrap_loss(model, x, x_next, reward, gamma):
    values = model(torch.cat([x, x_next]))  # (2B,)
    now, later = values.split(len(x))
    td_error = now - (reward + gamma * later.detach())
    return td_error.square().mean()

def freeze(model, prefixes):
    frozen = {name for name, _ in model.named_parameters() if name.startswith(tuple(prefixes))}
    for name, p in model.named_parameters():
        if name in frozen:
            p.requires_grad_(False)
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    return [p for p in model.parameters() if id(p) in trainable]

def to_numpy(t):
    return np.asarray(t.detach().to("cpu"))
""",
    "autograd.functional.vjp, in place target, explicit loop": """
import torch

def vjp(f, x, v):
    return torch.autograd.functional.vjp(f, x, v)[1]

def grad_twice(f, x):
    loss = f(x).sum()
    grads = []
    for keep in (True, False):
        loss.backward(retain_graph=keep)
        grads.append(x.grad.clone())
    return tuple(grads)

def bootstrap_loss(model, x, x_next, reward, gamma):
    target = model(x_next).detach()
    target.mul_(gamma).add_(reward)  # in place: the detached tensor is outside the graph
    diff = model(x) - target
    return (diff * diff).sum() / diff.numel()

def freeze(model, prefixes):
    kept = []
    for name, p in model.named_parameters():
        for prefix in prefixes:
            if name.startswith(prefix):
                p.requires_grad_(False)
                break
        if p.requires_grad:
            kept.append(p)
    return kept

def to_numpy(t):
    return t.detach().cpu().numpy().copy()
""",
}
