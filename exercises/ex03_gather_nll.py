"""ex03 · Negative log-likelihood with gather (fill-in kata)

A classifier outputs one score per class; the loss asks "how much probability
did you give the right class?". With log-probabilities that is one lookup per
row, and the loss is its negative (a probability near 1 costs ~0):

    log_probs (N, C), targets (N,) int64  ->  loss_i = -log_probs[i, targets[i]]

torch.gather does the lookup: log_probs.gather(1, targets[:, None]) is (N, 1),
entry i taken from row i at column targets[i]. The dim you gather along is the
CLASS dim; the index must have as many dims as the input.

Reductions, as in PyTorch: "none" gives the (N,) losses, "sum" their sum,
"mean" their mean (a 0-dim tensor); any other string raises ValueError.

cross_entropy takes raw scores (logits) of shape (..., C), e.g. (B, T, V) for a
language model with targets (B, T): log-softmax over the LAST dim, then the
same lookup. Flatten the leading dims to one row per position, and for "none"
give the losses back in targets' shape. Positions whose target equals
ignore_index (padding) cost nothing: "none" gives 0 there, and "mean" divides
by the number of positions that are NOT ignored.

The pitfall: log(softmax(x)) is not safe. For logits like 1e4 the small
probabilities round to 0 and log(0) = -inf (or exp overflows to inf): nan
losses and gradients. log_softmax computes x - logsumexp(x) stably.

Write them yourself: F.cross_entropy, F.nll_loss, nn.CrossEntropyLoss and
nn.NLLLoss are off limits (log_softmax, logsumexp and gather are fine).
"""

from torch import Tensor


def nll_loss(log_probs: Tensor, targets: Tensor, reduction: str = "mean") -> Tensor:
    """-log_probs[i, targets[i]], reduced.  log_probs: (N, C), targets: (N,) -> () or (N,)"""
    raise NotImplementedError


def cross_entropy(
    logits: Tensor, targets: Tensor, reduction: str = "mean", ignore_index: int = -100
) -> Tensor:
    """Log-softmax over the last dim, then the NLL.  logits: (..., C), targets: (...)"""
    raise NotImplementedError
