"""Implementations of ex06 for our tests: each replaces functions of the reference."""

WRONG = {
    "ex06/int64-features": """
def features_to_tensor(rows):
    return torch.tensor(rows)
""",
    "ex06/quadratic-lookup": """
def to_ids(tokens, vocab):
    vocab = list(vocab)
    return torch.tensor([vocab.index(t) for t in tokens], dtype=torch.int64)
""",
    "ex06/int64-one-hot": """
import torch.nn.functional as F

def one_hot(ids, num_classes):
    return F.one_hot(ids, num_classes)
""",
    "ex06/copied-array": """
def from_numpy_shared(arr):
    return torch.tensor(arr)
""",
}

RIGHT = {
    "numpy, eye rows, as_tensor": """
import numpy as np

def to_ids(tokens, vocab):
    lookup = dict(zip(vocab, range(len(vocab))))
    try:
        ids = [lookup[t] for t in tokens]
    except KeyError as missing:
        raise ValueError(f"{missing.args[0]} is not in the vocabulary") from None
    return torch.from_numpy(np.array(ids, dtype=np.int64))

def features_to_tensor(rows):
    return torch.from_numpy(np.asarray(rows, dtype=np.float32))

def one_hot(ids, num_classes):
    return torch.eye(num_classes)[ids]

def from_numpy_shared(arr):
    return torch.as_tensor(arr)
""",
    "scatter, stack, F.one_hot": """
import torch.nn.functional as F

def to_ids(tokens, vocab):
    index = {}
    for i, word in enumerate(vocab):
        index.setdefault(word, i)
    ids = [index.get(token, -1) for token in tokens]
    if -1 in ids:
        raise ValueError("unknown token: " + tokens[ids.index(-1)])
    return torch.tensor(ids).long()  # .long(): torch.tensor([]) alone is float32

def features_to_tensor(rows):
    return torch.stack([torch.tensor(row).float() for row in rows])

def one_hot(ids, num_classes):
    out = torch.zeros(*ids.shape, num_classes)
    return out.scatter_(-1, ids.unsqueeze(-1), 1.0)

def from_numpy_shared(arr):
    return torch.from_numpy(arr).view(arr.shape)
""",
}
