"""Implementations of ex11 for our tests: each replaces classes of the reference."""

WRONG = {
    "ex11/plain-list": """
class MLP(nn.Module):
    def __init__(self, sizes):
        super().__init__()
        self.layers = [nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]

    def forward(self, x):
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        return self.layers[-1](x)
""",
    "ex11/relu-after-last": """
class MLP(MLP):
    def forward(self, x):
        for layer in self.layers:
            x = torch.relu(layer(x))
        return x
""",
    "ex11/no-relu-between": """
class MLP(MLP):
    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x
""",
    "ex11/stats-plain-attributes": """
class RunningStandardize(nn.Module):
    def __init__(self, num_features, momentum=0.1, eps=1e-5):
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.running_mean = torch.zeros(num_features)
        self.running_var = torch.ones(num_features)

    def forward(self, x):
        if not self.training:
            return (x - self.running_mean) / torch.sqrt(self.running_var + self.eps)
        mean, var = x.mean(0), x.var(0, unbiased=False)
        m = self.momentum
        self.running_mean = (1 - m) * self.running_mean + m * mean.detach()
        self.running_var = (1 - m) * self.running_var + m * x.var(0).detach()
        return (x - mean) / torch.sqrt(var + self.eps)
""",
    "ex11/stats-as-parameters": """
class RunningStandardize(RunningStandardize):
    def __init__(self, num_features, momentum=0.1, eps=1e-5):
        nn.Module.__init__(self)
        self.momentum, self.eps = momentum, eps
        self.running_mean = nn.Parameter(torch.zeros(num_features), requires_grad=False)
        self.running_var = nn.Parameter(torch.ones(num_features), requires_grad=False)
""",
    "ex11/updates-in-eval": """
class RunningStandardize(RunningStandardize):
    def forward(self, x):
        mean, var = x.mean(0), x.var(0, unbiased=False)
        with torch.no_grad():
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(x.var(0), self.momentum)
        if self.training:
            return (x - mean) / torch.sqrt(var + self.eps)
        return (x - self.running_mean) / torch.sqrt(self.running_var + self.eps)
""",
    "ex11/batch-stats-in-eval": """
class RunningStandardize(RunningStandardize):
    def forward(self, x):
        mean, var = x.mean(0), x.var(0, unbiased=False)
        if self.training:
            with torch.no_grad():
                self.running_mean.lerp_(mean, self.momentum)
                self.running_var.lerp_(x.var(0), self.momentum)
        return (x - mean) / torch.sqrt(var + self.eps)
""",
    "ex11/biased-running-var": """
class RunningStandardize(RunningStandardize):
    def forward(self, x):
        if not self.training:
            return (x - self.running_mean) / torch.sqrt(self.running_var + self.eps)
        mean, var = x.mean(0), x.var(0, unbiased=False)
        with torch.no_grad():
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var, self.momentum)
        return (x - mean) / torch.sqrt(var + self.eps)
""",
    "ex11/unbiased-normalization": """
class RunningStandardize(RunningStandardize):
    def forward(self, x):
        if not self.training:
            return (x - self.running_mean) / torch.sqrt(self.running_var + self.eps)
        mean, var = x.mean(0), x.var(0)
        with torch.no_grad():
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var, self.momentum)
        return (x - mean) / torch.sqrt(var + self.eps)
""",
    "ex11/momentum-flipped": """
class RunningStandardize(RunningStandardize):
    def forward(self, x):
        if not self.training:
            return (x - self.running_mean) / torch.sqrt(self.running_var + self.eps)
        mean, var = x.mean(0), x.var(0, unbiased=False)
        with torch.no_grad():
            self.running_mean.lerp_(mean, 1 - self.momentum)
            self.running_var.lerp_(x.var(0), 1 - self.momentum)
        return (x - mean) / torch.sqrt(var + self.eps)
""",
    "ex11/eps-outside-sqrt": """
class RunningStandardize(RunningStandardize):
    def forward(self, x):
        if not self.training:
            return (x - self.running_mean) / (self.running_var.sqrt() + self.eps)
        mean, std = x.mean(0), x.std(0, unbiased=False)
        with torch.no_grad():
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(x.var(0), self.momentum)
        return (x - mean) / (std + self.eps)
""",
    "ex11/detached-batch-stats": """
class RunningStandardize(RunningStandardize):
    def forward(self, x):
        if not self.training:
            return (x - self.running_mean) / torch.sqrt(self.running_var + self.eps)
        with torch.no_grad():
            mean, var = x.mean(0), x.var(0, unbiased=False)
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(x.var(0), self.momentum)
        return (x - mean) / torch.sqrt(var + self.eps)
""",
    "ex11/stats-track-grad": """
class RunningStandardize(RunningStandardize):
    def forward(self, x):
        if not self.training:
            return (x - self.running_mean) / torch.sqrt(self.running_var + self.eps)
        mean, var = x.mean(0), x.var(0, unbiased=False)
        m = self.momentum
        self.running_mean = (1 - m) * self.running_mean + m * mean
        self.running_var = (1 - m) * self.running_var + m * x.var(0)
        return (x - mean) / torch.sqrt(var + self.eps)
""",
}

RIGHT = {
    "Sequential with ReLU modules, F.batch_norm": """
import torch.nn.functional as F

class MLP(nn.Module):
    def __init__(self, sizes):
        super().__init__()
        layers = []
        for i in range(len(sizes) - 1):
            if i:
                layers.append(nn.ReLU())
            layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)

class RunningStandardize(nn.Module):
    def __init__(self, num_features, momentum=0.1, eps=1e-5):
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0))

    def forward(self, x):
        if self.training:
            self.num_batches_tracked += 1
        return F.batch_norm(
            x, self.running_mean, self.running_var,
            training=self.training, momentum=self.momentum, eps=self.eps,
        )
""",
    "output layer registered first, var_mean, lerp, reassigned buffers": """
import torch.nn.functional as F

class MLP(nn.Module):
    def __init__(self, sizes):
        super().__init__()
        pairs = list(zip(sizes, sizes[1:]))
        self.out = nn.Linear(*pairs[-1])  # registration order is free
        self.hidden = nn.ModuleList([nn.Linear(a, b) for a, b in pairs[:-1]])

    def forward(self, x):
        for layer in self.hidden:
            x = F.relu(layer(x))
        return self.out(x)

class RunningStandardize(nn.Module):
    def __init__(self, num_features, momentum=0.1, eps=1e-5):
        super().__init__()
        self.momentum = momentum
        self.eps = eps
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        if self.training:
            var, mean = torch.var_mean(x, dim=0, correction=0)
            n = x.shape[0]
            # assigning a tensor to a buffer's name keeps it a buffer
            self.running_mean = torch.lerp(self.running_mean, mean.detach(), self.momentum)
            unbiased = var.detach() * n / (n - 1)
            self.running_var = torch.lerp(self.running_var, unbiased, self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        return (x - mean) * torch.rsqrt(var + self.eps)
""",
    "a plain list beside the registered Sequential, sums by hand": """
class MLP(nn.Module):
    def __init__(self, sizes):
        super().__init__()
        self.linears = [nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
        self.stack = nn.Sequential(*self.linears)  # registers the very same layers

    def forward(self, x):
        for i, layer in enumerate(self.stack):
            x = layer(x)
            if i < len(self.stack) - 1:
                x = x.clamp(min=0)
        return x

class RunningStandardize(nn.Module):
    def __init__(self, num_features, momentum=0.1, eps=1e-5):
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.full((num_features,), 1.0))

    def forward(self, x):
        if not self.training:
            return (x - self.running_mean) / (self.running_var + self.eps) ** 0.5
        n = x.shape[0]
        mean = x.sum(0) / n
        squares = ((x - mean) ** 2).sum(0)
        with torch.no_grad():
            self.running_mean.copy_(self.momentum * mean + (1 - self.momentum) * self.running_mean)
            new_var = self.momentum * squares / (n - 1) + (1 - self.momentum) * self.running_var
            self.running_var.copy_(new_var)
        return (x - mean) / (squares / n + self.eps) ** 0.5
""",
}
