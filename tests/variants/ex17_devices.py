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
}

RIGHT = {
    "pytree and a preference list": """
from torch.utils._pytree import tree_map

def pick_device():
    available = {"cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    return torch.device(next((name for name, ok in available.items() if ok), "cpu"))

def move_to(obj, device):
    return tree_map(lambda x: x.to(device) if isinstance(x, torch.Tensor) else x, obj)
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
""",
}
