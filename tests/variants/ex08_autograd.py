"""Implementations of ex08 for our tests: each replaces functions of the reference."""

WRONG = {
    "ex08/missing-fan-out-path": """
def graph_grads(a, b):
    d = a * b + a
    return 2 * d * b, 2 * d * a
""",
    "ex08/used-autograd": """
def graph_grads(a, b):
    a_t = torch.tensor(a, requires_grad=True)
    b_t = torch.tensor(b, requires_grad=True)
    ((a_t * b_t + a_t) ** 2).backward()
    return a_t.grad.item(), b_t.grad.item()
""",
    "ex08/no-autograd": """
def derivative(f, x, h=1e-6):
    x = torch.tensor(x, dtype=torch.float64)
    return ((f(x + h) - f(x - h)) / (2 * h)).item()
""",
    "ex08/no-requires-grad": """
def derivative(f, x):
    x = torch.tensor(x)
    f(x).backward()
    return x.grad.item()
""",
    "ex08/no-retain-grad": """
def intermediate_grad(a, b):
    a_t = torch.tensor(a, requires_grad=True)
    b_t = torch.tensor(b, requires_grad=True)
    c = a_t * b_t
    ((c + a_t) ** 2).backward()
    return c.grad.item()
""",
    "ex08/sum-of-norms": """
def grad_norm(model):
    return sum(p.grad.norm().item() for p in model.parameters() if p.grad is not None)
""",
    "ex08/none-grad-not-skipped": """
def grad_norm(model):
    return math.sqrt(sum((p.grad**2).sum().item() for p in model.parameters()))
""",
}

RIGHT = {
    "autograd.grad, expanded polynomial, get_total_norm": """
import torch

def derivative(f, x):
    x = torch.tensor(x, requires_grad=True)  # float32 is accurate enough
    (slope,) = torch.autograd.grad(f(x), x)
    return float(slope)

def graph_grads(a, b):
    # L = (a * (b + 1)) ** 2, differentiated as a polynomial
    return 2 * a * (b + 1) ** 2, 2 * a**2 * (b + 1)

def intermediate_grad(a, b):
    a, b = torch.tensor([a], requires_grad=True), torch.tensor([b])
    c = a * b
    loss = ((c + a) ** 2).sum()
    return torch.autograd.grad(loss, c)[0].item()  # asks for c directly: no retain_grad needed

def grad_norm(model):
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    return torch.nn.utils.get_total_norm(grads).item()
""",
    "torch.func, a hook, one flat vector": """
import torch

def derivative(f, x):
    return torch.func.grad(f)(torch.tensor(float(x), dtype=torch.float64)).item()

def graph_grads(a, b):
    a, b = torch.tensor(a), torch.tensor(b)  # tensors, but no graph and no backward
    d = a * b + a
    upstream = 2 * d
    return (upstream * (b + 1)).item(), (upstream * a).item()

def intermediate_grad(a, b):
    seen = []
    a = torch.tensor(a, dtype=torch.float64, requires_grad=True)
    c = a * b
    c.register_hook(seen.append)  # the gradient arriving at c on its way back
    ((c + a) ** 2).backward()
    return seen[0].item()

def grad_norm(model):
    flat = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    return torch.linalg.vector_norm(flat).item()
""",
    "clip_grad_norm_ without clipping": """
import torch

def grad_norm(model):
    return float(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=float("inf")))
""",
}
