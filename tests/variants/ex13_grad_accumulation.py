"""Implementations of ex13 for our tests: each replaces accumulate_gradients of the reference."""

WRONG = {
    "ex13/not-divided": """
def accumulate_gradients(model, loss_fn, micro_batches):
    model.zero_grad()
    total = 0.0
    for x, y in micro_batches:
        loss = loss_fn(model(x), y)
        loss.backward()
        total += loss.item()
    return total
""",
    "ex13/divided-by-batch-size": """
def accumulate_gradients(model, loss_fn, micro_batches):
    model.zero_grad()
    total = 0.0
    for x, y in micro_batches:
        loss = loss_fn(model(x), y) / len(x)
        loss.backward()
        total += loss.item()
    return total
""",
    "ex13/cleared-in-loop": """
def accumulate_gradients(model, loss_fn, micro_batches):
    total = 0.0
    for x, y in micro_batches:
        model.zero_grad()
        loss = loss_fn(model(x), y) / len(micro_batches)
        loss.backward()
        total += loss.item()
    return total
""",
    "ex13/tensor-returned": """
def accumulate_gradients(model, loss_fn, micro_batches):
    model.zero_grad()
    total = 0.0
    for x, y in micro_batches:
        loss = loss_fn(model(x), y) / len(micro_batches)
        loss.backward()
        total = total + loss
    return total
""",
    "ex13/stale-grads": """
def accumulate_gradients(model, loss_fn, micro_batches):
    total = 0.0
    for x, y in micro_batches:
        loss = loss_fn(model(x), y) / len(micro_batches)
        loss.backward()
        total += loss.item()
    return total
""",
    "ex13/stepped": """
import torch

def accumulate_gradients(model, loss_fn, micro_batches):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    optimizer.zero_grad()
    total = 0.0
    for x, y in micro_batches:
        loss = loss_fn(model(x), y) / len(micro_batches)
        loss.backward()
        total += loss.item()
    optimizer.step()
    return total
""",
}

RIGHT = {
    "unscaled backward, gradients divided after the loop": """
def accumulate_gradients(model, loss_fn, micro_batches):
    for p in model.parameters():
        p.grad = None
    losses = []
    for x, y in micro_batches:
        loss = loss_fn(model.forward(x), y)
        loss.backward()
        losses.append(float(loss))
    for p in model.parameters():
        if p.grad is not None:
            p.grad.div_(len(micro_batches))
    return sum(losses) / len(losses)
""",
    "weighted by each micro-batch's share of the examples, zeros not None": """
import torch

def accumulate_gradients(model, loss_fn, micro_batches):
    model.zero_grad(set_to_none=False)
    n_total = sum(len(x) for x, _ in micro_batches)
    total = torch.zeros(())
    for x, y in micro_batches:
        loss = loss_fn(model(x), y) * (x.shape[0] / n_total)
        loss.backward()
        total += loss.detach()
    return total.item()
""",
}
