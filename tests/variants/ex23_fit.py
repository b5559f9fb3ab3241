"""Implementations of ex23 for our tests: each replaces fit() of the reference."""

WRONG = {
    "ex23/mean-of-batch-losses": """
def fit(model, optimizer, loss_fn, train_loader, val_loader, epochs):
    history = []
    for _ in range(epochs):
        model.train()
        losses = []
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        model.eval()
        correct = total = 0
        with torch.no_grad():
            for x, y in val_loader:
                correct += int((model(x).argmax(dim=-1) == y).sum())
                total += len(y)
        history.append((sum(losses) / len(losses), correct / total))
    model.train()
    return history
""",
    "ex23/sum-not-mean": """
def fit(model, optimizer, loss_fn, train_loader, val_loader, epochs):
    history = []
    for _ in range(epochs):
        model.train()
        loss_sum = 0.0
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(y)
        model.eval()
        correct = total = 0
        with torch.no_grad():
            for x, y in val_loader:
                correct += int((model(x).argmax(dim=-1) == y).sum())
                total += len(y)
        history.append((loss_sum, correct / total))
    model.train()
    return history
""",
    "ex23/val-train-mode": """
def fit(model, optimizer, loss_fn, train_loader, val_loader, epochs):
    model.train()
    history = []
    for _ in range(epochs):
        loss_sum, seen = 0.0, 0
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(y)
            seen += len(y)
        correct = total = 0
        with torch.no_grad():  # no_grad, but dropout and batch norm still in train mode
            for x, y in val_loader:
                correct += int((model(x).argmax(dim=-1) == y).sum())
                total += len(y)
        history.append((loss_sum / seen, correct / total))
    return history
""",
    "ex23/val-graph": """
def fit(model, optimizer, loss_fn, train_loader, val_loader, epochs):
    history = []
    for _ in range(epochs):
        model.train()
        loss_sum, seen = 0.0, 0
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(y)
            seen += len(y)
        model.eval()
        correct = total = 0
        for x, y in val_loader:  # no torch.no_grad(): every forward pass records a graph
            correct += int((model(x).argmax(dim=-1) == y).sum())
            total += len(y)
        history.append((loss_sum / seen, correct / total))
    model.train()
    return history
""",
    "ex23/val-steps": """
def fit(model, optimizer, loss_fn, train_loader, val_loader, epochs):
    history = []
    for _ in range(epochs):
        model.train()
        loss_sum, seen = 0.0, 0
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(y)
            seen += len(y)
        model.eval()
        correct = total = 0
        with torch.no_grad():
            for x, y in val_loader:  # the training step, copied without its backward
                out = model(x)
                optimizer.step()
                correct += int((out.argmax(dim=-1) == y).sum())
                total += len(y)
        history.append((loss_sum / seen, correct / total))
    model.train()
    return history
""",
    "ex23/eval-mode-leak": """
def fit(model, optimizer, loss_fn, train_loader, val_loader, epochs):
    model.train()  # once: the first validation's eval() stays on for the later epochs
    history = []
    for _ in range(epochs):
        loss_sum, seen = 0.0, 0
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(y)
            seen += len(y)
        model.eval()
        correct = total = 0
        with torch.no_grad():
            for x, y in val_loader:
                correct += int((model(x).argmax(dim=-1) == y).sum())
                total += len(y)
        history.append((loss_sum / seen, correct / total))
    model.train()
    return history
""",
    "ex23/ends-in-eval-mode": """
def fit(model, optimizer, loss_fn, train_loader, val_loader, epochs):
    history = []
    for _ in range(epochs):
        model.train()
        loss_sum, seen = 0.0, 0
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(y)
            seen += len(y)
        model.eval()
        correct = total = 0
        with torch.no_grad():
            for x, y in val_loader:
                correct += int((model(x).argmax(dim=-1) == y).sum())
                total += len(y)
        history.append((loss_sum / seen, correct / total))
    return history
""",
    "ex23/mean-of-batch-accuracies": """
def fit(model, optimizer, loss_fn, train_loader, val_loader, epochs):
    history = []
    for _ in range(epochs):
        model.train()
        loss_sum, seen = 0.0, 0
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(y)
            seen += len(y)
        model.eval()
        with torch.no_grad():
            accuracies = [(model(x).argmax(-1) == y).float().mean().item() for x, y in val_loader]
        history.append((loss_sum / seen, sum(accuracies) / len(accuracies)))
    model.train()
    return history
""",
    "ex23/totals-not-reset": """
def fit(model, optimizer, loss_fn, train_loader, val_loader, epochs):
    history = []
    loss_sum, seen = 0.0, 0  # once, before the epochs: they keep adding up
    correct = total = 0
    for _ in range(epochs):
        model.train()
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(y)
            seen += len(y)
        model.eval()
        with torch.no_grad():
            for x, y in val_loader:
                correct += int((model(x).argmax(dim=-1) == y).sum())
                total += len(y)
        history.append((loss_sum / seen, correct / total))
    model.train()
    return history
""",
}

RIGHT = {
    "running weighted mean, inference_mode, a validation helper": """
import torch

def _accuracy(model, loader):
    model.train(False)
    hits = seen = 0
    with torch.inference_mode():
        for x, y in loader:
            hits += (model(x).max(dim=1).indices == y).sum().item()
            seen += y.shape[0]
    model.train(True)
    return hits / seen

def fit(model, optimizer, loss_fn, train_loader, val_loader, epochs):
    history = []
    for _ in range(epochs):
        model.train(True)
        mean, seen = 0.0, 0
        for x, y in train_loader:
            optimizer.zero_grad(set_to_none=False)
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            seen += len(x)
            mean += (loss.item() - mean) * len(x) / seen
        history.append((mean, _accuracy(model, val_loader)))
    return history
""",
    "tensor totals, a no_grad decorator, one forward over all validation inputs": """
import torch

@torch.no_grad()
def _validate(model, loader):
    xs, ys = zip(*loader)
    predicted = model(torch.cat(xs)).argmax(-1)
    return predicted.eq(torch.cat(ys)).double().mean().item()

def fit(model, optimizer, loss_fn, train_loader, val_loader, epochs):
    history = []
    for epoch in range(epochs):
        model.train()
        total = torch.zeros(())
        for x, y in train_loader:
            loss = loss_fn(model.forward(x), y)
            model.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.detach() * y.numel()
        train_loss = (total / len(train_loader.dataset)).item()
        model.eval()
        try:
            accuracy = _validate(model, val_loader)
        finally:
            model.train()
        history.append((train_loss, accuracy))
    return history
""",
}
