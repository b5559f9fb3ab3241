"""Implementations of ex17 for our tests: each replaces functions of the reference."""

WRONG = {
    "ex17/string-device": """
def pick_device():
    if torch.cuda.is_available():
        return "cuda"
    return "mps" if torch.backends.mps.is_available() else "cpu"
""",
    "ex17/wrong-preference": """
def pick_device():
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
""",
    "ex17/not-recursive": """
def move_to(obj, device):
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in obj.items()}
    return obj
""",
    "ex17/tuple-to-list": """
def move_to(obj, device):
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: move_to(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [move_to(v, device) for v in obj]
    return obj
""",
    "ex17/to-discarded": """
def prepare(model, batch, device):
    for tensor in [*model.parameters(), *model.buffers()]:
        tensor.to(device)  # a moved copy, thrown away
    move_to(batch, device)
    return model, batch
""",
    "ex17/buffers-left": """
def prepare(model, batch, device):
    for module in model.modules():
        for name, param in list(module.named_parameters(recurse=False)):
            setattr(module, name, nn.Parameter(param.detach().to(device), param.requires_grad))
    return model, move_to(batch, device)
""",
    "ex17/data-assigned": """
def prepare(model, batch, device):
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            tensor.data = tensor.data.to(device)
    return model, move_to(batch, device)
""",
}

RIGHT = {
    "pytree and a preference list": """
from torch.utils._pytree import tree_map

def pick_device():
    available = {"cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    return torch.device(next((name for name, ok in available.items() if ok), "cpu"))

def move_to(obj, device):
    return tree_map(lambda x: x.to(device) if isinstance(x, torch.Tensor) else x, obj)

def prepare(model, batch, device):
    device = torch.device(device)
    moved = tree_map(lambda x: x.to(device) if torch.is_tensor(x) else x, batch)
    return model.to(device=device), moved
""",
    "match statement": """
def pick_device():
    name = "cpu"
    if torch.backends.mps.is_available():
        name = "mps"
    if torch.cuda.is_available():
        name = "cuda"
    return torch.device(name)

def move_to(obj, device):
    match obj:
        case torch.Tensor():
            return obj.to(device=device)
        case dict():
            return dict(zip(obj, (move_to(v, device) for v in obj.values())))
        case tuple():
            return tuple(move_to(v, device) for v in obj)
        case list():
            return [move_to(v, device) for v in obj]
        case _:
            return obj

def prepare(model, batch, device):
    moved = move_to(batch, device)
    model = model.to(device)  # Module.to returns the module itself: rebinding is harmless
    return (model, moved)
""",
}
