"""Implementations of ex04 for our tests: each replaces train() of the reference."""

WRONG = {
    "ex04/no-zero-grad": """
def train(model, optimizer, loss_fn, batches, epochs=1):
    model.train()
    losses = []
    for _ in range(epochs):
        for x, y in batches:
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses
""",
    "ex04/zero-grad-before-step": """
def train(model, optimizer, loss_fn, batches, epochs=1):
    model.train()
    losses = []
    for _ in range(epochs):
        for x, y in batches:
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.zero_grad()
            optimizer.step()
            losses.append(loss.item())
    return losses
""",
    "ex04/step-before-backward": """
def train(model, optimizer, loss_fn, batches, epochs=1):
    model.train()
    losses = []
    for _ in range(epochs):
        for x, y in batches:
            loss = loss_fn(model(x), y)
            optimizer.step()
            optimizer.zero_grad()
            loss.backward()
            losses.append(loss.item())
    return losses
""",
    "ex04/loss-tensors": """
def train(model, optimizer, loss_fn, batches, epochs=1):
    model.train()
    losses = []
    for _ in range(epochs):
        for x, y in batches:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            losses.append(loss)
    return losses
""",
    "ex04/no-train-mode": """
def train(model, optimizer, loss_fn, batches, epochs=1):
    losses = []
    for _ in range(epochs):
        for x, y in batches:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses
""",
    "ex04/zero-grad-after-step": """
def train(model, optimizer, loss_fn, batches, epochs=1):
    model.train()
    losses = []
    for _ in range(epochs):
        for x, y in batches:
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            losses.append(loss.item())
    return losses
""",
}

RIGHT = {
    "model.zero_grad with zeros, float() after the step": """
def train(model, optimizer, loss_fn, batches, epochs=1):
    model.train(True)
    losses = []
    for _ in range(epochs):
        for x, y in batches:
            model.zero_grad(set_to_none=False)
            out = model(x)
            loss = loss_fn(out, y)
            loss.backward()
            optimizer.step()
            losses.append(float(loss))
    return losses
""",
    "gradients set to None by hand, one flat loop, cleared again at the end": """
import itertools

def train(model, optimizer, loss_fn, batches, epochs=1):
    model.train()
    losses = []
    for _, (x, y) in itertools.product(range(epochs), batches):
        for p in model.parameters():
            p.grad = None
        loss = loss_fn(model.forward(x), y)
        losses.append(loss.detach().item())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return losses
""",
}
