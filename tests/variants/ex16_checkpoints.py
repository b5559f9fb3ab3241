"""Implementations of ex16 for our tests: each replaces functions of the reference."""

WRONG = {
    "ex16/no-optimizer-state": """
def save_checkpoint(path, model, optimizer, epoch, loss):
    torch.save({"model": model.state_dict(), "epoch": epoch, "loss": loss}, path)

def load_checkpoint(path, model, optimizer):
    checkpoint = torch.load(path, weights_only=True)
    model.load_state_dict(checkpoint["model"])
    return checkpoint["epoch"] + 1
""",
    "ex16/resume-off-by-one": """
def load_checkpoint(path, model, optimizer):
    checkpoint = torch.load(path, weights_only=True)
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    return checkpoint["epoch"]
""",
    "ex16/unsafe-load": """
def load_checkpoint(path, model, optimizer):
    checkpoint = torch.load(path, weights_only=False)
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    return checkpoint["epoch"] + 1
""",
    "ex16/whole-model-pickled": """
def save_checkpoint(path, model, optimizer, epoch, loss):
    torch.save({"model": model, "optimizer": optimizer.state_dict(), "epoch": epoch}, path)

def load_checkpoint(path, model, optimizer):
    checkpoint = torch.load(path, weights_only=True)
    model.load_state_dict(checkpoint["model"].state_dict())
    optimizer.load_state_dict(checkpoint["optimizer"])
    return checkpoint["epoch"] + 1
""",
}

RIGHT = {
    "a tuple holding the next epoch, torch.load's default": """
def save_checkpoint(path, model, optimizer, epoch, loss):
    torch.save((model.state_dict(), optimizer.state_dict(), epoch + 1, float(loss)), str(path))

def load_checkpoint(path, model, optimizer):
    model_state, optimizer_state, next_epoch, _ = torch.load(path, map_location="cpu")
    model.load_state_dict(model_state, strict=True)
    optimizer.load_state_dict(optimizer_state)
    return int(next_epoch)
""",
    "nested dicts, a file object, parameters copied by hand": """
def save_checkpoint(path, model, optimizer, epoch, loss):
    state = {"weights": dict(model.named_parameters()), "optim": optimizer.state_dict()}
    with open(path, "wb") as file:
        torch.save({"state": state, "meta": {"epoch": epoch, "loss": loss}}, file)

def load_checkpoint(path, model, optimizer):
    with open(path, "rb") as file:
        checkpoint = torch.load(file, weights_only=True)
    weights = checkpoint["state"]["weights"]
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.copy_(weights[name])
    optimizer.load_state_dict(checkpoint["state"]["optim"])
    return checkpoint["meta"]["epoch"] + 1
""",
}
