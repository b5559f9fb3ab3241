"""Implementations of ex01 for our tests: each replaces definitions of the reference."""

WRONG = {
    "ex01/forgot-bias": """
def affine_param_count(in_features, out_features, bias=True):
    return in_features * out_features
""",
    "ex01/counted-tensors": """
def count_parameters(module, trainable_only=False):
    return sum(1 for p in module.parameters() if p.requires_grad or not trainable_only)
""",
    "ex01/unregistered-weight": """
class Affine(nn.Module):
    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.weight = torch.randn(out_features, in_features, requires_grad=True)
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def forward(self, x):
        y = x @ self.weight.T
        return y if self.bias is None else y + self.bias
""",
    "ex01/transposed-weight": """
class Affine(nn.Module):
    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(in_features, out_features) * 0.1)
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def forward(self, x):
        y = x @ self.weight
        return y if self.bias is None else y + self.bias
""",
    "ex01/leading-dims": """
class Affine(Affine):
    def forward(self, x):
        y = x.mm(self.weight.t())
        return y if self.bias is None else y + self.bias
""",
    "ex01/counted-buffers": """
def count_parameters(module, trainable_only=False):
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t.numel() for t in tensors if t.requires_grad or not trainable_only)
""",
    "ex01/double-counted-tied": """
def count_parameters(module, trainable_only=False):
    named = module.named_parameters(remove_duplicate=False)
    return sum(p.numel() for _, p in named if p.requires_grad or not trainable_only)
""",
}

RIGHT = {
    "F.linear, register_parameter, dedup by id": """
import torch.nn.functional as F

def affine_param_count(in_features, out_features, bias=True):
    return out_features * (in_features + int(bias))

class Affine(nn.Module):
    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / in_features**0.5)
        if bias:
            self.bias = nn.Parameter(torch.zeros(out_features))
        else:
            self.register_parameter("bias", None)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

def count_parameters(module, trainable_only=False):
    unique = {id(p): p for _, p in module.named_parameters(remove_duplicate=False)}
    return sum(p.numel() for p in unique.values() if p.requires_grad or not trainable_only)

def mlp_param_count(sizes):
    total = 0
    for i in range(len(sizes) - 1):
        total += sizes[i] * sizes[i + 1] + sizes[i + 1]
    return total
""",
    "einsum, kaiming init, math.prod": """
import itertools
import math

def affine_param_count(in_features, out_features, bias=True):
    return in_features * out_features + bias * out_features

class Affine(nn.Module):
    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def forward(self, x):
        y = torch.einsum("...i,oi->...o", x, self.weight)
        if self.bias is not None:
            y = y + self.bias
        return y

def count_parameters(module, trainable_only=False):
    params = [p for p in module.parameters() if p.requires_grad or not trainable_only]
    return sum(math.prod(p.shape) for p in params)

def mlp_param_count(sizes):
    return sum(affine_param_count(a, b) for a, b in itertools.pairwise(sizes))
""",
    "flatten the leading dims, addmm": """
class Affine(nn.Module):
    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.rand(out_features, in_features) - 0.5)
        self.bias = nn.Parameter(torch.rand(out_features) - 0.5) if bias else None

    def forward(self, x):
        rows = x.reshape(-1, self.in_features)
        if self.bias is None:
            y = rows @ self.weight.t()
        else:
            y = torch.addmm(self.bias, rows, self.weight.t())
        return y.reshape(*x.shape[:-1], self.out_features)
""",
}
