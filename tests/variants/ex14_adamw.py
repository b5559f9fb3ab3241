"""Implementations of ex14 for our tests: each replaces AdamW of the reference."""

# A plain AdamW.step; each mistake below is this with one piece changed.
STEP = """
class AdamW(AdamW):
    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["t"] = 0
                    state["m"] = torch.zeros_like(p)
                    state["v"] = torch.zeros_like(p)
                state["t"] += 1
                t, m, v, g = state["t"], state["m"], state["v"], p.grad
                p.mul_(1 - lr * wd)
                m.mul_(b1).add_(g, alpha=1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
                p.sub_(lr * m_hat / (v_hat.sqrt() + eps))
        return loss
"""


def _flawed(*edits: tuple[str, str]) -> str:
    code = STEP
    for old, new in edits:
        assert old in code, old
        code = code.replace(old, new.replace("$&", old))
    return code


WRONG = {
    "ex14/no-bias-correction": _flawed(("m / (1 - b1**t), v / (1 - b2**t)", "m, v")),
    "ex14/l2-not-decoupled": _flawed(
        ("p.mul_(1 - lr * wd)", "g = g + wd * p"),
    ),
    "ex14/eps-inside-sqrt": _flawed(("(v_hat.sqrt() + eps)", "(v_hat + eps).sqrt()")),
    "ex14/step-off-by-one": _flawed(('state["t"] = 0', 'state["t"] = 1')),
    "ex14/shared-state": _flawed(  # one count per group, increased for every param
        ('state["t"] += 1', 'group["t"] = group.get("t", 0) + 1'),
        ('state["t"], state["m"]', 'group["t"], state["m"]'),
    ),
    "ex14/none-grad": _flawed(  # weight decay before the None check
        ("                p.mul_(1 - lr * wd)\n", ""),
        ("                if p.grad is None:", "                p.mul_(1 - lr * wd)\n$&"),
    ),
    "ex14/closure-no-grad": _flawed(
        ("            with torch.enable_grad():\n                loss", "            loss"),
    ),
    "ex14/forbidden-call": """
class AdamW(torch.optim.AdamW):
    pass
""",
}

RIGHT = {
    "foreach ops, lerp, float32 tensor step counts and bias corrections": """
class AdamW(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    def step(self, closure=None):
        loss = closure() if closure is not None else None
        with torch.no_grad():
            for group in self.param_groups:
                params = [p for p in group["params"] if p.grad is not None]
                if not params:
                    continue
                for p in params:
                    if p not in self.state:
                        self.state[p] = {
                            "step": torch.tensor(0.0),
                            "exp_avg": torch.zeros_like(p),
                            "exp_avg_sq": torch.zeros_like(p),
                        }
                states = [self.state[p] for p in params]
                grads = [p.grad for p in params]
                m = [s["exp_avg"] for s in states]
                v = [s["exp_avg_sq"] for s in states]
                beta1, beta2 = group["betas"]
                torch._foreach_mul_(params, 1 - group["lr"] * group["weight_decay"])
                torch._foreach_lerp_(m, grads, 1 - beta1)
                torch._foreach_mul_(v, beta2)
                torch._foreach_addcmul_(v, grads, grads, value=1 - beta2)
                for s, p, m_p, v_p in zip(states, params, m, v):
                    s["step"] += 1
                    # float32 tensors, as in torch's capturable path
                    correction1 = 1 - beta1 ** s["step"]
                    correction2_sqrt = (1 - beta2 ** s["step"]).sqrt()
                    denom = (v_p.sqrt() / correction2_sqrt).add_(group["eps"])
                    p.sub_(group["lr"] * (m_p / correction1) / denom)
        return loss
""",
    "float64 state, update written back with copy_": """
class AdamW(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        if lr < 0 or eps < 0 or weight_decay < 0:
            raise ValueError("lr, eps and weight_decay must be >= 0")
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps,
                                  "weight_decay": weight_decay})

    def _moments(self, p):
        state = self.state[p]
        if "m" not in state:
            state.update(n=0, m=torch.zeros_like(p, dtype=torch.float64),
                         v=torch.zeros_like(p, dtype=torch.float64))
        return state

    @torch.no_grad()
    def step(self, closure=None):
        with torch.enable_grad():
            loss = None if closure is None else closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in filter(lambda q: q.grad is not None, group["params"]):
                state = self._moments(p)
                state["n"] += 1
                g = p.grad.double()
                state["m"] = beta1 * state["m"] + (1 - beta1) * g
                state["v"] = beta2 * state["v"] + (1 - beta2) * g**2
                m_hat = state["m"] / (1 - beta1 ** state["n"])
                v_hat = state["v"] / (1 - beta2 ** state["n"])
                new = p.double() * (1 - group["lr"] * group["weight_decay"])
                new -= group["lr"] * m_hat / (torch.sqrt(v_hat) + group["eps"])
                p.copy_(new)
        return loss
""",
}
