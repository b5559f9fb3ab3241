"""Implementations of ex20 for our tests: each replaces train_classifier of the reference."""

WRONG = {
    "ex20/below-target": """
def train_classifier(X, y, num_classes, seed=0):
    torch.manual_seed(seed)
    model = nn.Linear(X.shape[1], num_classes)  # straight boundaries only
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(200):
        optimizer.zero_grad()
        F.cross_entropy(model(X), y).backward()
        optimizer.step()
    return model.eval()
""",
    "ex20/not-reproducible": """
def train_classifier(X, y, num_classes, seed=0):
    model = nn.Sequential(
        nn.Linear(X.shape[1], 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
        nn.Linear(64, num_classes),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(200):
        optimizer.zero_grad()
        F.cross_entropy(model(X), y).backward()
        optimizer.step()
    return model.eval()
""",
    "ex20/wrong-output-shape": """
def train_classifier(X, y, num_classes, seed=0):
    torch.manual_seed(seed)
    # regresses the class id: one number per example instead of one score per class
    model = nn.Sequential(nn.Linear(X.shape[1], 64), nn.ReLU(), nn.Linear(64, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(200):
        optimizer.zero_grad()
        F.mse_loss(model(X).squeeze(-1), y.float()).backward()
        optimizer.step()
    return model.eval()
""",
    "ex20/train-mode": """
def train_classifier(X, y, num_classes, seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Linear(X.shape[1], 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
        nn.Linear(64, num_classes),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(200):
        optimizer.zero_grad()
        F.cross_entropy(model(X), y).backward()
        optimizer.step()
    return model  # still in train mode
""",
    "ex20/too-slow": """
def train_classifier(X, y, num_classes, seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Linear(X.shape[1], 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
        nn.Linear(64, num_classes),
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-2)
    for _ in range(1000):  # one example per step, a thousand epochs
        for i in range(len(X)):
            optimizer.zero_grad()
            F.cross_entropy(model(X[i : i + 1]), y[i : i + 1]).backward()
            optimizer.step()
    return model.eval()
""",
}

RIGHT = {
    "own module, standardized inputs, AdamW, private generator": """
class Classifier(nn.Module):
    def __init__(self, X, num_classes, generator):
        super().__init__()
        self.register_buffer("mean", X.mean(dim=0))
        self.register_buffer("std", X.std(dim=0) + 1e-6)
        self.hidden = nn.Linear(X.shape[1], 128)
        self.out = nn.Linear(128, num_classes)
        with torch.no_grad():  # init from the private generator: the global RNG is untouched
            for p in self.parameters():
                bound = 1 / p.shape[-1] ** 0.5 if p.dim() > 1 else 0.1
                p.uniform_(-bound, bound, generator=generator)

    def forward(self, x):
        return self.out(torch.tanh(self.hidden((x - self.mean) / self.std)))


def train_classifier(X, y, num_classes, seed=0):
    generator = torch.Generator().manual_seed(seed)
    model = Classifier(X, num_classes, generator)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-2, weight_decay=1e-4)
    for _ in range(300):
        optimizer.zero_grad()
        nn.CrossEntropyLoss()(model(X), y).backward()
        optimizer.step()
    model.eval()
    return model
""",
    "fork_rng, shuffled mini-batches, hand-written SGD with momentum": """
def train_classifier(X, y, num_classes, seed=0):
    with torch.random.fork_rng(devices=[]):  # seeds inside, restores the caller's RNG after
        torch.manual_seed(seed)
        model = nn.Sequential(
            nn.Linear(X.shape[1], 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(),
            nn.Linear(64, num_classes),
        )
        params = list(model.parameters())
        velocity = [torch.zeros_like(p) for p in params]
        for _ in range(150):  # plain SGD needs more passes than Adam on the spirals
            for batch in torch.randperm(len(X)).split(128):
                loss = F.cross_entropy(model(X[batch]), y[batch])
                grads = torch.autograd.grad(loss, params)
                with torch.no_grad():
                    for p, v, g in zip(params, velocity, grads):
                        v.mul_(0.9).add_(g)
                        p.sub_(0.05 * v)
    return model.eval()
""",
}
