"""Implementations of ex19 for our tests: each replaces definitions of the reference."""

WRONG = {
    "ex19/one-hot-forward": """
class Embedding(nn.Module):
    def __init__(self, num_embeddings, embedding_dim):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(num_embeddings, embedding_dim))

    def forward(self, ids):
        return F.one_hot(ids, self.weight.shape[0]).to(self.weight.dtype) @ self.weight
""",
    "ex19/weight-not-parameter": """
class Embedding(nn.Module):
    def __init__(self, num_embeddings, embedding_dim):
        super().__init__()
        self.register_buffer("weight", torch.randn(num_embeddings, embedding_dim))

    def forward(self, ids):
        return self.weight[ids]
""",
    "ex19/wrong-init": """
class Embedding(nn.Module):
    def __init__(self, num_embeddings, embedding_dim):
        super().__init__()
        self.weight = nn.Parameter(torch.rand(num_embeddings, embedding_dim) * 2 - 1)

    def forward(self, ids):
        return self.weight[ids]
""",
    "ex19/one-hot-int": """
def onehot_matmul(ids, weight):
    return F.one_hot(ids, weight.shape[0]) @ weight
""",
}

RIGHT = {
    "index_select and scatter": """
class Embedding(nn.Module):
    def __init__(self, num_embeddings, embedding_dim):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_embeddings, embedding_dim).normal_())

    def forward(self, ids):
        rows = self.weight.index_select(0, ids.reshape(-1))  # (N, D)
        return rows.view(*ids.shape, self.weight.shape[1])

def onehot_matmul(ids, weight):
    one_hot = torch.zeros(*ids.shape, weight.shape[0], dtype=weight.dtype)
    one_hot.scatter_(-1, ids.unsqueeze(-1), 1.0)
    return one_hot @ weight
""",
    "F.embedding and eye": """
class Embedding(nn.Module):
    def __init__(self, num_embeddings, embedding_dim):
        super().__init__()
        self.weight = nn.Parameter(torch.randn((num_embeddings, embedding_dim)))

    def forward(self, ids):
        return F.embedding(ids, self.weight)

def onehot_matmul(ids, weight):
    return torch.eye(weight.shape[0], dtype=weight.dtype)[ids] @ weight
""",
}
