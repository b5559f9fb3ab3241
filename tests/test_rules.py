"""Rules read from the source (grader/rules.py): every way around them that we know of is
found, with its line, and no correct implementation of ours trips one."""

from __future__ import annotations

import importlib
import json
import textwrap

import pytest

from grader import catalog, rules
from grader.checks.ex03_gather_nll import FORBIDDEN as EX03
from grader.checks.ex05_manual_sgd import OWN_FUNCTIONS as EX05
from grader.checks.ex08_autograd import BY_HAND as EX08
from grader.checks.ex09_stable_softmax import FORBID as EX09
from grader.checks.ex14_adamw import FORBIDDEN as EX14

from .conftest import with_override

EX02 = ("center_rows", "scale_rows", "mse", "pairwise_sq_dists", "batch_matvec")
RULES = {"ex02": rules.Rule(EX02, loop_free=True), "ex03": EX03.rule, "ex05": EX05, "ex08": EX08}
RULES |= {"ex09": EX09.rule, "ex14": EX14.rule}


def findings(kata: str, code: str) -> list[str]:
    source = with_override(kata, textwrap.dedent(code))
    return [str(f) for f in rules.check(source, RULES[kata])]


def _correct(kata: str) -> list:
    module = importlib.import_module(f"tests.variants.{catalog.find(kata).name}")
    reference = catalog.find(kata).solution_path.read_text()
    cases = [pytest.param(kata, reference, id=f"{kata}-reference")]
    for name, code in module.RIGHT.items():
        cases.append(pytest.param(kata, with_override(kata, code), id=f"{kata}-{name[:40]}"))
    return cases


@pytest.mark.parametrize(("kata", "source"), [c for k in RULES for c in _correct(k)])
def test_correct_implementations_break_no_rule(kata: str, source: str) -> None:
    assert rules.check(source, RULES[kata]) == ()


BYPASSES = {
    "ex03": {
        "inside torch's own disable_current_modes": """
            import torch.nn.functional as F
            def cross_entropy(logits, targets, reduction="mean", ignore_index=-100):
                flat = logits.reshape(-1, logits.shape[-1])
                with torch._C._disable_current_modes():
                    return F.cross_entropy(flat, targets.reshape(-1))
            """,
        "one-hot float targets": """
            import torch.nn.functional as F
            def cross_entropy(logits, targets, reduction="mean", ignore_index=-100):
                classes = logits.shape[-1]
                hot = F.one_hot(targets, classes).float().reshape(-1, classes)
                return F.cross_entropy(logits.reshape(-1, classes), hot)
            """,
        "the serving loop taken over at import": """
            import os, json
            def _serve():
                while True:
                    frame = os.read(3, 1 << 20)
                    os.write(5, frame)
            _serve()
            """,
        "a module-level alias": """
            import torch
            _nnf = torch.nn.functional
            _loss = _nnf.cross_entropy
            def cross_entropy(logits, targets, reduction="mean", ignore_index=-100):
                return _loss(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
            """,
        "an alias unpacked from a tuple": """
            import torch.nn.functional as F
            (_ce,) = (F.cross_entropy,)
            def nll_loss(log_probs, targets, reduction="mean"):
                return _ce(log_probs, targets)
            """,
        "a computed getattr": """
            import torch.nn.functional as F
            def nll_loss(log_probs, targets, reduction="mean"):
                return getattr(F, "nll" + "_loss")(log_probs, targets)
            """,
        "a constant getattr": """
            import torch.nn.functional as F
            def nll_loss(log_probs, targets, reduction="mean"):
                return getattr(F, "nll_loss")(log_probs, targets)
            """,
        "vars() of the module": """
            import torch.nn.functional as F
            def nll_loss(log_probs, targets, reduction="mean"):
                return vars(F)["nll_loss"](log_probs, targets)
            """,
        "a default argument": """
            import torch.nn.functional as F
            def nll_loss(log_probs, targets, reduction="mean", _f=F.nll_loss):
                return _f(log_probs, targets, reduction=reduction)
            """,
        "a helper class's attribute": """
            from torch import nn
            class _Helper:
                loss = nn.NLLLoss()
            def nll_loss(log_probs, targets, reduction="mean"):
                return _Helper.loss(log_probs, targets)
            """,
        "an import inside the function": """
            def nll_loss(log_probs, targets, reduction="mean"):
                from torch.nn.functional import nll_loss as f
                return f(log_probs, targets, reduction=reduction)
            """,
        "a global rebound from inside a function": """
            import torch.nn.functional as F
            _f = None
            def _setup():
                global _f
                _f = F.nll_loss
            _setup()
            def nll_loss(log_probs, targets, reduction="mean"):
                return _f(log_probs, targets)
            """,
        "a comprehension variable shadowing nothing": """
            import torch.nn.functional as F
            _f = F.nll_loss
            def nll_loss(log_probs, targets, reduction="mean"):
                _unused = [_f for _f in range(3)]
                return _f(log_probs, targets)
            """,
        "torch patched at import": """
            import torch
            import torch.nn.functional as F
            torch.gather_loss = F.nll_loss
            def nll_loss(log_probs, targets, reduction="mean"):
                return torch.gather_loss(log_probs, targets)
            """,
        "exec of a string": """
            exec("import torch.nn.functional as F\\nnll_loss = F.nll_loss")
            """,
        "the grader's own scenario patched": """
            import sys
            sys.modules["grader.worker.guards"].forbidding = None
            """,
        "a subprocess": """
            import subprocess
            def nll_loss(log_probs, targets, reduction="mean"):
                subprocess.run(["true"])
                return -log_probs.gather(1, targets[:, None]).squeeze(1).mean()
            """,
    },
    "ex09": {
        "a tensor method": """
            def softmax(x, dim=-1):
                return x.softmax(dim)
            """,
        "torch.special": """
            import torch
            def log_softmax(x, dim=-1):
                return torch.special.log_softmax(x, dim)
            """,
        "an unbound method": """
            import torch
            def softmax(x, dim=-1):
                return torch.Tensor.softmax(x, dim)
            """,
        "inside disable_current_modes": """
            import torch
            def logsumexp(x, dim=-1, keepdim=False):
                with torch._C._disable_current_modes():
                    return torch.logsumexp(x, dim, keepdim)
            """,
    },
    "ex14": {
        "torch's private kernel imported at import": """
            from torch.optim.adam import _single_tensor_adam
            class AdamW(torch.optim.Optimizer):
                def step(self, closure=None):
                    _single_tensor_adam([], [], [], [], [], [], lr=1.0)
            """,
        "a subclass of torch's AdamW": """
            import torch
            class AdamW(torch.optim.AdamW):
                pass
            """,
    },
    "ex08": {
        "backward in a helper": """
            import torch
            def _by_autograd(a, b):
                a, b = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
                ((a * b + a) ** 2).backward()
                return a.grad.item(), b.grad.item()
            def graph_grads(a, b):
                return _by_autograd(a, b)
            """,
        "torch.func": """
            import torch
            def graph_grads(a, b):
                g = torch.func.grad(lambda t: ((t[0] * t[1] + t[0]) ** 2))(torch.tensor([a, b]))
                return float(g[0]), float(g[1])
            """,
    },
    "ex05": {
        "an update written inside fit_line": """
            import torch
            def fit_line(x, y, lr=0.1, steps=200):
                w = torch.zeros((), requires_grad=True)
                b = torch.zeros((), requires_grad=True)
                opt = torch.optim.SGD([w, b], lr=lr)
                for _ in range(steps):
                    opt.zero_grad()
                    ((w * x + b - y) ** 2).mean().backward()
                    opt.step()
                return w.item(), b.item()
            """,
        "a decoy that calls them under if False": """
            def fit_line(x, y, lr=0.1, steps=200):
                return 0.0, 0.0
            if False:
                def fit_line(x, y, lr=0.1, steps=200):
                    sgd_step([], lr)
                    zero_grad([])
            """,
        "sgd_step rebound to something else": """
            def fit_line(x, y, lr=0.1, steps=200):
                return 0.0, 0.0
            sgd_step = None
            """,
    },
    "ex02": {
        "a loop in a helper": """
            import torch
            def _rows(x):
                return torch.stack([row - row.mean() for row in x])
            def center_rows(x):
                return _rows(x)
            """,
        "a name bound by assignment": """
            def _loop(x, w):
                out = x.clone()
                for i in range(len(w)):
                    out[i] = x[i] * w[i]
                return out
            scale_rows = _loop
            """,
        "a loop-free decoy under if False": """
            def mse(pred, target):
                total = 0.0
                for p, t in zip(pred.reshape(-1), target):
                    total = total + (p - t) ** 2
                return total / len(target)
            if False:
                def mse(pred, target):
                    return ((pred.squeeze(1) - target) ** 2).mean()
            """,
        "recursion": """
            import torch
            def batch_matvec(m, v):
                if len(v) == 1:
                    return v @ m.T
                return torch.cat([batch_matvec(m, v[:1]), batch_matvec(m, v[1:])])
            """,
        "map": """
            import torch
            def center_rows(x):
                return torch.stack(list(map(lambda row: row - row.mean(), x)))
            """,
    },
}


@pytest.mark.parametrize(
    ("kata", "code"),
    [
        pytest.param(k, code, id=f"{k}-{name}")
        for k, by in BYPASSES.items()
        for name, code in by.items()
    ],
)
def test_every_known_way_around_a_rule_is_found_with_its_line(kata: str, code: str) -> None:
    found = findings(kata, code)
    assert found, "the analysis found nothing"
    assert all(f.startswith("line ") or "never calls" in f for f in found), found


def test_a_self_test_under_the_main_guard_is_left_out() -> None:
    code = """
        if __name__ == "__main__":
            import torch.nn.functional as F
            print(F.cross_entropy(torch.randn(2, 3), torch.tensor([0, 1])))
        """
    assert findings("ex03", code) == []


def test_autograd_in_another_function_of_the_module_is_allowed() -> None:
    # ex08's intermediate_grad must use autograd; only graph_grads is done by hand
    assert findings("ex08", "") == []


# correct answers that break their kata's rule: only the rule can cost them points
BROKEN_RULES = {
    "ex03": """
        import torch
        import torch.nn.functional as F
        def nll_loss(log_probs, targets, reduction="mean"):
            if reduction not in ("mean", "sum", "none"):
                raise ValueError(reduction)
            with torch._C._disable_current_modes():
                return F.nll_loss(log_probs, targets, reduction=reduction)
        def cross_entropy(logits, targets, reduction="mean", ignore_index=-100):
            if reduction not in ("mean", "sum", "none"):
                raise ValueError(reduction)
            classes = logits.shape[-1]
            with torch._C._disable_current_modes():
                out = F.cross_entropy(logits.reshape(-1, classes), targets.reshape(-1),
                                      reduction=reduction, ignore_index=ignore_index)
            return out.reshape(targets.shape) if reduction == "none" else out
        """,
    "ex09": """
        import torch
        def softmax(x, dim=-1):
            with torch._C._disable_current_modes():
                return torch.softmax(x, dim)
        def log_softmax(x, dim=-1):
            with torch._C._disable_current_modes():
                return torch.log_softmax(x, dim)
        def logsumexp(x, dim=-1, keepdim=False):
            with torch._C._disable_current_modes():
                return torch.logsumexp(x, dim, keepdim)
        """,
    "ex14": """
        from torch.optim.adam import _single_tensor_adam  # noqa: F401  reached at import
        import torch
        class AdamW(torch.optim.AdamW):
            def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
                super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
        """,
    "ex05": """
        import torch
        def fit_line(x, y, lr=0.1, steps=200):
            w = torch.zeros((), requires_grad=True)
            b = torch.zeros((), requires_grad=True)
            for _ in range(steps):
                ((w * x + b - y) ** 2).mean().backward()
                with torch.no_grad():  # the update written here, not with sgd_step
                    for p in (w, b):
                        p -= lr * p.grad
                        p.grad = None
            return w.item(), b.item()
        """,
    "ex02": """
        import torch
        def _center(row):
            return row - row.mean()
        def center_rows(x):
            return torch.stack([_center(row) for row in x])
        if False:
            def center_rows(x):
                return x - x.mean(dim=1, keepdim=True)
        """,
}


@pytest.mark.parametrize("kata", sorted(BROKEN_RULES))
def test_a_correct_answer_that_breaks_the_rule_is_not_full_marks(kata: str, grade_source) -> None:
    result = grade_source(kata, with_override(kata, textwrap.dedent(BROKEN_RULES[kata])))
    assert result["score"] < result["max_score"], result.report()
    failed = [t["output"] for t in result["tests"] if t["status"] == "failed"]
    assert failed and "line " in failed[0], failed  # the rule, with its line; said once
    assert all("line " in output or "the same as" in output for output in failed), failed
    assert "internal error" not in json.dumps(result)
