"""ex14 · AdamW from scratch (fill-in kata)

Write the optimizer behind most of modern deep learning, as a torch.optim.Optimizer, so
that it drops into any training loop: optimizer.zero_grad(), loss.backward(),
optimizer.step(). It must match torch.optim.AdamW (amsgrad=False).

The pieces torch.optim.Optimizer gives you:
- super().__init__(params, defaults) turns `params` (tensors, or a list of dicts, one per
  param group) into self.param_groups: a list of dicts, each with "params" and every key of
  `defaults` (a group's own "lr", "betas", ... win over the defaults).
- self.state: a dict keyed by parameter tensor, empty at first. Keep each param's own
  step count and moments in self.state[p].
- zero_grad() comes for free.

For every param p of every group that has a .grad (g below, same shape as p), with that
group's lr, betas (b1, b2), eps and weight_decay (wd):
    t  = t + 1                                 this param's step count, starting at 0
    p  = p * (1 - lr * wd)                     decoupled weight decay, on p itself
    m  = b1 * m + (1 - b1) * g                 m, v start as zeros shaped like p
    v  = b2 * v + (1 - b2) * g * g
    m_hat = m / (1 - b1 ** t)                  bias correction: m and v start at 0, so
    v_hat = v / (1 - b2 ** t)                  early on they are far too small
    p  = p - lr * m_hat / (sqrt(v_hat) + eps)
A param whose .grad is None is skipped: no decay, no count. Change params in place, under
torch.no_grad(). step(closure) calls closure() (under torch.enable_grad(): it runs a
backward pass) before updating, and returns its loss; step() returns None.

The pitfall: weight decay added to the gradient (g + wd * p) is Adam with L2, not AdamW:
the decay then goes through m and v and gets divided by sqrt(v_hat), so params with large
gradients are barely decayed. AdamW shrinks p directly, by lr * wd * p.

torch.optim.Adam / AdamW and their functional and fused kernels are off limits here.
"""

import torch


class AdamW(torch.optim.Optimizer):
    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        """Hand params and a dict of these defaults to torch.optim.Optimizer.__init__."""
        raise NotImplementedError

    def step(self, closure=None):
        """One AdamW update of every param that has a .grad; returns closure's loss (or None)."""
        raise NotImplementedError
