"""ex14 · AdamW from scratch: reference solution."""

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
        # the base class builds self.param_groups, filling each group's missing keys from these
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    @torch.no_grad()  # the update is not part of any graph: params stay leaves
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():  # the closure runs forward and backward
                loss = closure()
        for group in self.param_groups:
            lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
            for p in group["params"]:
                if p.grad is None:  # no gradient this step: no update, no decay, no count
                    continue
                state = self.state[p]  # this param's own moments and step count
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)  # m: running mean of grads
                    state["exp_avg_sq"] = torch.zeros_like(p)  # v: running mean of grads²
                state["step"] += 1
                t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
                p.mul_(1 - lr * group["weight_decay"])  # decoupled: shrink p, not the grad
                m.mul_(beta1).add_(p.grad, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                m_hat = m / (1 - beta1**t)  # m and v start at 0: undo their pull to 0
                v_hat = v / (1 - beta2**t)
                p.sub_(lr * m_hat / (v_hat.sqrt() + eps))
        return loss
