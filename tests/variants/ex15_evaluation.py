"""Implementations of ex15 for our tests: each replaces functions of the reference."""

WRONG = {
    "ex15/dropout-on": """
def evaluate(model, batches):
    correct = total = 0
    with torch.no_grad():
        for x, y in batches:
            correct += int((model(x).argmax(dim=-1) == y).sum())
            total += len(y)
    return correct / total

def predict_proba(model, x):
    with torch.no_grad():
        return model(x).softmax(dim=-1)
""",
    "ex15/graph-built": """
def evaluate(model, batches):
    was_training = model.training
    model.eval()
    correct = total = 0
    for x, y in batches:
        correct += int((model(x).argmax(dim=-1) == y).sum())
        total += len(y)
    model.train(was_training)
    return correct / total

def predict_proba(model, x):
    was_training = model.training
    model.eval()
    probs = model(x).softmax(dim=-1)
    model.train(was_training)
    return probs
""",
    "ex15/sum-not-mean": """
def evaluate(model, batches):
    was_training = model.training
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y in batches:
            correct += int((model(x).argmax(dim=-1) == y).sum())
    model.train(was_training)
    return correct
""",
    "ex15/mode-not-restored": """
def evaluate(model, batches):
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in batches:
            correct += int((model(x).argmax(dim=-1) == y).sum())
            total += len(y)
    model.train()  # back to train mode, whatever mode the model came in
    return correct / total

def predict_proba(model, x):
    model.eval()
    with torch.no_grad():
        return model(x).softmax(dim=-1)
""",
    "ex15/mean-of-batch-accuracies": """
def evaluate(model, batches):
    was_training = model.training
    model.eval()
    with torch.no_grad():
        accuracies = [(model(x).argmax(dim=-1) == y).float().mean().item() for x, y in batches]
    model.train(was_training)
    return sum(accuracies) / len(accuracies)
""",
    "ex15/forward-called": """
def evaluate(model, batches):
    was_training = model.training
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in batches:
            correct += int((model.forward(x).argmax(dim=-1) == y).sum())
            total += len(y)
    model.train(was_training)
    return correct / total

def predict_proba(model, x):
    was_training = model.training
    model.eval()
    with torch.no_grad():
        probs = model.forward(x).softmax(dim=-1)
    model.train(was_training)
    return probs
""",
}

RIGHT = {
    "inference_mode, try/finally, tensor counts": """
import torch

def evaluate(model, batches):
    was_training = model.training
    model.train(False)
    try:
        with torch.inference_mode():
            hits = [(model(x).argmax(1) == y) for x, y in batches]
            return torch.cat(hits).float().mean().item()
    finally:
        model.train(was_training)

def predict_proba(model, x):
    was_training = model.training
    model.train(False)
    try:
        with torch.inference_mode():
            return torch.nn.functional.softmax(model(x), dim=1)
    finally:
        model.train(was_training)
""",
    "decorator, per-module modes, log_softmax": """
import torch

@torch.no_grad()
def evaluate(model, batches):
    modes = {m: m.training for m in model.modules()}
    model.eval()
    correct, seen = torch.zeros((), dtype=torch.int64), 0
    for x, y in batches:
        logits = model(x)
        correct += (logits.max(dim=-1).indices == y).sum()
        seen += y.shape[0]
    for m, mode in modes.items():
        m.training = mode
    return correct.item() / seen

@torch.no_grad()
def predict_proba(model, x):
    if not model.training:
        return model(x).log_softmax(dim=-1).exp()
    model.eval()
    probs = torch.exp(model(x) - model(x).logsumexp(dim=-1, keepdim=True))
    model.train()
    return probs
""",
}
