"""Hidden checks for ex14_adamw: the learner's AdamW against torch.optim.AdamW's arithmetic.

The worker steps the learner's optimizer on seed-built params and gradients (or a tiny model)
and reports every step's values; the judge replays torch.optim.AdamW's single-tensor update
(amsgrad=False) op for op (grader.replay) on the same seed-built objects, in float32, and
compares. (Running torch.optim.AdamW itself here would cost seconds: its first step imports
torch._dynamo.)
A wrong trajectory is diagnosed by replaying the usual mistakes too and seeing which one it
matches; state shared between params shows as: wrong together, right when each param has an
optimizer of its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from grader.kit import (
    Forbidden,
    Misconception,
    close,
    distinct_sizes,
    expect,
    expect_tensor,
    explain,
    fail,
    fmt_shape,
    observed,
    points,
    random_seed,
    size,
    type_name,
    uniform,
)
from grader.replay import ReplayedOptimizer
from grader.rules import Rule
from grader.worker.scenarios.ex14_adamw import build_model, build_problem

# the notebook's visible sanity test: torch and the kata's own names only
SANITY = """
import torch
mine = torch.tensor([[0.5, -1.0], [2.0, 0.1], [-0.3, 1.5]], requires_grad=True)
theirs = mine.detach().clone().requires_grad_()
optimizers = [AdamW([mine], lr=0.1), torch.optim.AdamW([theirs], lr=0.1)]
for _ in range(3):
    for param, opt in zip((mine, theirs), optimizers):
        opt.zero_grad()
        (param**3).sum().backward()
        opt.step()
assert torch.allclose(mine, theirs, atol=1e-6), "3 steps should match torch.optim.AdamW's"
"""

NO_BIAS_CORRECTION = Misconception(
    "ex14/no-bias-correction",
    "The moments are not bias-corrected. m and v start at zero, so in the first steps they are "
    "far smaller than the gradients they average (after step 1, m = (1 - b1) * g). Divide them "
    "by (1 - b1 ** t) and (1 - b2 ** t), t being the param's step count, before the update.",
)
L2_NOT_DECOUPLED = Misconception(
    "ex14/l2-not-decoupled",
    "Weight decay was added to the gradient (g + wd * p): that is Adam with an L2 penalty, not "
    "AdamW. The decay then passes through m and v and is divided by sqrt(v_hat), so it barely "
    "touches params with large gradients. AdamW decouples it: shrink the param itself, "
    "p *= 1 - lr * wd, and feed the plain gradient to m and v.",
)
EPS_INSIDE_SQRT = Misconception(
    "ex14/eps-inside-sqrt",
    "eps is inside the square root: sqrt(v_hat + eps). AdamW adds it after the root, "
    "sqrt(v_hat) + eps, with v_hat the bias-corrected v. With a large eps or small gradients "
    "the two differ a lot.",
)
STEP_OFF_BY_ONE = Misconception(
    "ex14/step-off-by-one",
    "The step count t in the bias corrections is off by one. Start each param's count at 0 "
    "and increase it BEFORE using it, so that the first update uses t = 1: 1 - b1 ** 1 = 1 - b1. "
    "With t = 0 the corrections divide by zero; with t = 2 they are too weak.",
)
SHARED_STATE = Misconception(
    "ex14/shared-state",
    "State leaks between params: each param must have its own moments m, v and its own step "
    "count in self.state[p], created the first time p has a gradient. A count kept on the "
    "optimizer or on a group (increased for every param, or on every step() even for params "
    "that got no gradient) or moments shared by several params give wrong updates, although "
    "your AdamW is right for a single param.",
)
NONE_GRAD = Misconception(
    "ex14/none-grad",
    "A param whose .grad is None got no gradient this step (unused in the loss, or frozen): "
    "skip it entirely, before anything else, as torch.optim.AdamW does: no update, no weight "
    "decay, no step count.",
)
CLOSURE_NO_GRAD = Misconception(
    "ex14/closure-no-grad",
    "step() runs under torch.no_grad(), and so did closure(): its forward pass built no graph "
    "and its backward() failed. Call the closure inside `with torch.enable_grad():`.",
)
FORBIDDEN_CALL = Misconception(
    "ex14/forbidden-call",
    "The point of this kata is to write the update yourself: torch.optim.Adam / AdamW, "
    "their functional forms and fused kernels are off limits (subclassing them too). Subclass "
    "torch.optim.Optimizer and do the arithmetic on each param.",
)

FORBIDDEN = Forbidden(
    rule=Rule(
        functions=("AdamW",),
        forbidden=(
            *("torch.optim.Adam", "torch.optim.AdamW", "torch.optim.adam", "torch.optim.adamw"),
            *("torch.optim._functional", "torch._fused_adam_", "torch._fused_adamw_"),
        ),
    ),
    names="torch's Adam/AdamW",
    task="write the update yourself",
    misconception=FORBIDDEN_CALL,
    ops=("_fused_adam_", "_fused_adamw_"),  # the scenarios also watch torch.optim.adam's code
)
STEPS = 50
DEFAULTS = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 1e-2}
PARAM_NAMES = ("0.weight", "0.bias", "2.weight", "2.bias")  # of build_model's Sequential


@dataclass(frozen=True)
class Flaw:
    """A way to get AdamW wrong; Flaw() is torch.optim.AdamW itself."""

    bias_correct_m: bool = True
    bias_correct_v: bool = True
    decoupled: bool = True  # False: wd * p added to the gradient (Adam with L2)
    eps_inside: str = ""  # "v_hat": sqrt(v_hat + eps); "v": sqrt(v + eps) / sqrt(1 - b2 ** t)
    step_shift: int = 0  # t + step_shift in the bias corrections
    count: str = "param"  # "param": own count; "call": one per step(); "shared": +1 per param
    decay_without_grad: bool = False  # weight decay applied before the None check


FLAWS = {
    NO_BIAS_CORRECTION: (
        Flaw(bias_correct_m=False, bias_correct_v=False),
        Flaw(bias_correct_m=False),
        Flaw(bias_correct_v=False),
    ),
    L2_NOT_DECOUPLED: (Flaw(decoupled=False),),
    STEP_OFF_BY_ONE: (Flaw(step_shift=1),),
    SHARED_STATE: (Flaw(count="call"), Flaw(count="shared")),
    NONE_GRAD: (Flaw(decay_without_grad=True),),
    EPS_INSIDE_SQRT: (Flaw(eps_inside="v_hat"), Flaw(eps_inside="v")),
}


class FlawedAdamW(ReplayedOptimizer):
    """grader.replay's AdamW with the arithmetic of one mistake: a bias correction left out,
    or eps inside the square root. (Reference gives it every param's state.)"""

    def __init__(self, flaw: Flaw, params: list[torch.Tensor], **options: Any) -> None:
        super().__init__(params, momentum=0.0, **options)
        self.flaw = flaw

    def _adamw(
        self, p: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], beta1: float, beta2: float
    ) -> None:
        flaw = self.flaw
        state["step"] += 1
        t = state["step"].item()
        p.mul_(1 - self.lr * self.weight_decay)
        m = state["exp_avg"].lerp_(grad, 1 - beta1)
        v = state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        correction_m = 1 - beta1**t if flaw.bias_correct_m else 1.0
        correction_v = 1 - beta2**t if flaw.bias_correct_v else 1.0
        if flaw.eps_inside == "v_hat":
            denom = (v / correction_v).add_(self.eps).sqrt_()
        elif flaw.eps_inside == "v":
            denom = v.add(self.eps).sqrt_() / correction_v**0.5
        else:
            denom = (v.sqrt() / correction_v**0.5).add_(self.eps)
        p.addcdiv_(m, denom, value=-self.lr / correction_m)


class Reference:
    """torch.optim.AdamW over param groups: grader.replay's update, one optimizer per group
    (the state is per param either way); or the same with one of the usual mistakes. A mistake
    in the bookkeeping changes what the replay sees (the step count in a param's state, the
    gradient, a param without one); a mistake in the arithmetic is FlawedAdamW's."""

    def __init__(self, groups: list[tuple[list[torch.Tensor], dict]], flaw: Flaw = Flaw()) -> None:
        self.flaw = flaw
        right = flaw.bias_correct_m and flaw.bias_correct_v and not flaw.eps_inside
        self.optimizers = []
        for params, options in groups:
            options = {k: options[k] for k in ("lr", "betas", "eps", "weight_decay")}
            if not flaw.decoupled:  # Adam with L2: the decay goes into the gradient instead
                options["weight_decay"] = 0.0
            self.optimizers.append(
                ReplayedOptimizer(params, momentum=0.0, **options)
                if right
                else FlawedAdamW(flaw, params, **options)
            )
        self.decay = [options["weight_decay"] for _, options in groups]
        self.calls = 0
        self.updates = 0  # param updates so far, over all steps and groups

    @torch.no_grad()
    def step(self) -> None:
        flaw = self.flaw
        self.calls += 1
        for optimizer, weight_decay in zip(self.optimizers, self.decay, strict=True):
            for p in optimizer.params:
                if p.grad is None:
                    if flaw.decay_without_grad:  # decayed before the None check
                        p.mul_(1 - optimizer.lr * weight_decay)
                    continue
                if not flaw.decoupled:
                    p.grad = p.grad.add(p, alpha=weight_decay)
                self.updates += 1
                self._count(optimizer.state.setdefault(p, {}), p)
            optimizer.step()

    def _count(self, state: dict[str, Any], p: torch.Tensor) -> None:
        """Give p's state the step count the flaw makes the next update use, less the 1 that
        the update adds (grader.replay's state: a float32 step and the two moments)."""
        fresh = not state
        if fresh:
            state.update(step=torch.tensor(0.0), exp_avg=torch.zeros_like(p))
            state.update(exp_avg_sq=torch.zeros_like(p))
        count = {"call": self.calls, "shared": self.updates}.get(self.flaw.count)
        if count is not None:  # one count per step() call, or one shared by all params
            state["step"].fill_(count - 1 + self.flaw.step_shift)
        elif fresh:  # its own count, shifted from the start
            state["step"] += self.flaw.step_shift


def _options(setup: dict[str, Any], group: dict[str, Any]) -> dict[str, Any]:
    return {**DEFAULTS, **setup.get("kwargs", {}), **group["options"]}


def simulate(setup: dict[str, Any], flaw: Flaw = Flaw()) -> list[torch.Tensor]:
    """Every param's values after every step, stacked (steps, *shape), in group order."""
    values, grads = build_problem(setup)
    params = [[v.clone() for v in group] for group in values]
    optimizer = Reference(
        [(ps, _options(setup, g)) for ps, g in zip(params, setup["groups"], strict=True)], flaw
    )
    history: list[list[torch.Tensor]] = [[] for ps in params for _ in ps]
    for step_grads in grads:
        for ps, gs in zip(params, step_grads, strict=True):
            for p, grad in zip(ps, gs, strict=True):
                p.grad = grad
        optimizer.step()
        for seen, p in zip(history, (p for ps in params for p in ps), strict=True):
            seen.append(p.clone())
    return [torch.stack(seen) for seen in history]


def _log_uniform(rng: torch.Generator, low: float, high: float) -> float:
    return math.exp(uniform(rng, math.log(low), math.log(high)))


def _betas(rng: torch.Generator, lr: float) -> tuple[float, float]:
    """Random betas, exact in float32. Computing 1 - b2 ** t in float32 (a valid way, torch's
    capturable path does it) loses digits when b2 is near 1: a b2 that float32 cannot hold
    would make that error systematic, and lr times it piles up over the steps. So: float32
    values, and b2 > 0.99 only with a small lr."""
    b1, b2 = uniform(rng, 0.8, 0.95), uniform(rng, 0.95, 0.999 if lr <= 3e-3 else 0.99)
    return float(torch.tensor(b1).float()), float(torch.tensor(b2).float())


def _group(shapes: list, options: dict, scale: float = 1.0, without_grad: Any = None) -> dict:
    return {"shapes": shapes, "options": options, "scale": scale, "without_grad": without_grad}


def _fmt(value: Any) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(f"{v:.4g}" for v in value) + ")"
    return f"{value:.4g}"


def _param_names(setup: dict[str, Any]) -> list[str]:
    several = len(setup["groups"]) > 1
    return [
        f"param {i} {fmt_shape(shape)}" + (f" of group {g}" if several else "")
        for g, group in enumerate(setup["groups"])
        for i, shape in enumerate(group["shapes"])
    ]


def _run(learner: Any, name: str, keys: tuple[str, ...], *args: Any, **kwargs: Any) -> dict:
    """A scenario's report (holding `keys`), with the learner's errors explained and torch's
    Adam forbidden."""
    with ExitStack() as stack:
        for misconception, error in (
            (STEP_OFF_BY_ONE, r"division by zero"),
            (NONE_GRAD, r"NoneType"),
            (SHARED_STATE, r"size of tensor a .* must match the size of tensor b"),
            (CLOSURE_NO_GRAD, r"does not require grad and does not have a grad_fn"),
        ):
            stack.enter_context(explain(misconception, when=error))
        obs = learner.scenario(name, *args, forbid=FORBIDDEN, **kwargs)
    obs = observed(obs, dict, "torch_adam", *keys)
    if observed(obs["torch_adam"], list):
        fail(
            f"your AdamW runs torch's own Adam update (torch.optim.adam."
            f"{', '.join(obs['torch_adam'])} ran)",
            FORBIDDEN_CALL,
        )
    return obs


def _agrees(got: Any, want: torch.Tensor) -> bool:
    """As expect_tensor judges: a tensor of want's dtype and shape, within rtol 1e-5, atol 1e-6."""
    return (
        type(got) is torch.Tensor
        and got.dtype == want.dtype
        and got.shape == want.shape
        and bool(torch.isclose(got, want, rtol=1e-5, atol=1e-6, equal_nan=True).all())
    )


def _first_wrong_step(got: Any, want: torch.Tensor) -> int | None:
    """The first step (0-based) at which a stacked (steps, *shape) trajectory is off."""
    if type(got) is not torch.Tensor or got.shape != want.shape:
        return 0
    return next((k for k in range(len(want)) if not _agrees(got[k], want[k])), None)


def _matches(got: list, want: list[torch.Tensor]) -> bool:
    return all(close(g, w, rtol=1e-4, atol=1e-5) for g, w in zip(got, want, strict=True))


def _replayed_mistake(got: list, replay: Callable[[Flaw], list]) -> Misconception | None:
    """The mistake whose replay gives the learner's values (non-finite ones: t = 0). A mistake
    that makes no visible difference here (eps inside the root with a tiny eps) names nothing."""
    want = replay(Flaw())
    for misconception, flaws in FLAWS.items():
        for flaw in flaws:
            wrong = replay(flaw)
            if _matches(got, wrong) and not _matches(wrong, want):
                return misconception
    if any(type(g) is torch.Tensor and not bool(torch.isfinite(g).all()) for g in got):
        return STEP_OFF_BY_ONE  # t = 0 in the first step: 1 - b ** 0 = 0
    return None


def _diagnose(learner: Any, setup: dict[str, Any], got: list) -> Misconception | None:
    found = _replayed_mistake(got, lambda flaw: simulate(setup, flaw))
    if found:
        return found
    try:  # right when every param has an optimizer of its own: state leaks between them
        solo = _trajectory(learner, setup, solo=True)
    except Exception:
        return None
    right_alone = all(
        _first_wrong_step(g, w) is None for g, w in zip(solo, simulate(setup), strict=True)
    )
    return SHARED_STATE if right_alone else None


def _trajectory(learner: Any, setup: dict[str, Any], solo: bool = False) -> list:
    """The learner's AdamW over the setup's steps: every param's values after every step."""
    seen = _run(learner, "run_steps", ("trajectory",), setup, solo=solo)
    params = sum(len(group["shapes"]) for group in setup["groups"])
    return observed(seen["trajectory"], list, length=params)


def _expect_trajectory(learner: Any, setup: dict[str, Any], what: str) -> None:
    """The learner's AdamW follows torch.optim.AdamW's trajectory over all steps."""
    got = _trajectory(learner, setup)
    want = simulate(setup)
    names = _param_names(setup)
    first = [
        (step, i)
        for i, (g, w) in enumerate(zip(got, want, strict=True))
        if (step := _first_wrong_step(g, w)) is not None
    ]
    if not first:
        return
    step, i = min(first)
    if type(got[i]) is not torch.Tensor:
        fail(f"{what}: {names[i]} changed its shape or dtype during the steps")
    misconception = _diagnose(learner, setup, got)
    expect_tensor(
        got[i][step],
        want[i][step],
        f"{what}: {names[i]} after step {step + 1} of {len(want[i])}",
        wrong={misconception: lambda _: True} if misconception else {},
    )


def _shapes(rng: torch.Generator) -> list[list[int]]:
    """A non-square and a square matrix, a vector and a scalar."""
    rows, cols = distinct_sizes(rng, 2)
    return [[rows, cols], [cols, cols], [rows], []]


@points(2)
def test_defaults(learner, rng):
    """AdamW(model.parameters()) with its default hyperparameters matches torch.optim.AdamW"""
    setup = {
        "seed": random_seed(rng),
        "steps": STEPS,
        "groups": [_group(_shapes(rng), {})],
        "as_generator": True,
    }
    _expect_trajectory(learner, setup, "AdamW(params) with its defaults, 50 steps")


@points(3)
def test_param_groups(learner, rng):
    """each param group uses its own lr, betas, eps and weight_decay, like torch.optim.AdamW"""
    rows, cols = distinct_sizes(rng, 2)
    lr = _log_uniform(rng, 1e-3, 3e-3)
    kwargs = {
        "lr": lr,
        "betas": _betas(rng, lr),
        "eps": _log_uniform(rng, 1e-8, 1e-6),
        "weight_decay": uniform(rng, 0.01, 0.1),
    }
    own_lr = _log_uniform(rng, 1e-2, 3e-2)
    own = {"lr": own_lr, "betas": _betas(rng, own_lr)}
    own["weight_decay"] = uniform(rng, 0.1, 0.3)
    large_eps = {"eps": _log_uniform(rng, 1e-3, 1e-2), "weight_decay": 0.0}
    setup = {
        "seed": random_seed(rng),
        "steps": STEPS,
        "groups": [
            _group([[rows, cols], [cols, cols]], own),
            _group([[rows], [], [cols, rows]], large_eps, scale=uniform(rng, 0.02, 0.1)),
            _group([[cols], [rows, rows]], {}),  # the constructor's values
        ],
        "kwargs": kwargs,
    }
    groups = ", ".join(
        "{'params': ..." + "".join(f", '{k}': {_fmt(v)}" for k, v in g["options"].items()) + "}"
        for g in setup["groups"]
    )
    call = f"AdamW([{groups}], {', '.join(f'{k}={_fmt(v)}' for k, v in kwargs.items())})"
    _expect_trajectory(learner, setup, f"{call}, 50 steps")


@points(1)
def test_skips_params_without_grad(learner, rng):
    """params whose .grad is None are skipped: no update, no weight decay, no step counted"""
    sometimes = torch.randperm(STEPS, generator=rng)[: STEPS // 3].tolist()
    lr = _log_uniform(rng, 1e-2, 3e-2)
    setup = {
        "seed": random_seed(rng),
        "steps": STEPS,
        "groups": [_group(_shapes(rng), {}, without_grad=[[], list(range(STEPS)), sometimes, []])],
        "kwargs": {"lr": lr, "betas": _betas(rng, lr), "weight_decay": uniform(rng, 0.1, 0.3)},
    }
    options = ", ".join(f"{k}={_fmt(v)}" for k, v in setup["kwargs"].items())
    what = f"AdamW(params, {options}), param 1 never has a .grad, param 2 none in some steps"
    _expect_trajectory(learner, setup, what)


@points(1)
def test_state_per_param(learner, rng):
    """each param keeps its own moments and step count"""
    n = size(rng, 2, 6)
    lr = _log_uniform(rng, 1e-2, 3e-2)
    setup = {
        "seed": random_seed(rng),
        "steps": STEPS,
        "groups": [
            _group([[n, n]] * 3, {"lr": _log_uniform(rng, 1e-3, 3e-3)}),
            _group([[n, n]] * 2, {"weight_decay": 0.0}),
        ],
        "kwargs": {"lr": lr, "betas": _betas(rng, lr)},
    }
    _expect_trajectory(learner, setup, f"AdamW on five ({n}, {n}) params in two groups, 50 steps")


def _model_setup(rng: torch.Generator) -> dict[str, Any]:
    lr = _log_uniform(rng, 1e-2, 3e-2)
    return {
        "seed": random_seed(rng),
        "sizes": [size(rng, 2, 6), size(rng, 3, 8), size(rng, 2, 5)],
        "batch": size(rng, 4, 16),
        "steps": size(rng, 5, 10),
        "kwargs": {
            "lr": lr,
            "betas": _betas(rng, lr),
            "weight_decay": uniform(rng, 0.05, 0.2),
        },
    }


def simulate_training(setup: dict[str, Any], flaw: Flaw = Flaw()) -> list[torch.Tensor]:
    """The model's params after the scenario's training loop, with the reference AdamW."""
    model, batches = build_model(setup)
    params = list(model.parameters())
    optimizer = Reference([(params, {**DEFAULTS, **setup["kwargs"]})], flaw)
    for x, y in batches:
        for p in params:
            p.grad = None
        F.mse_loss(model(x), y).backward()
        optimizer.step()
    return [p.detach() for p in params]


def _expect_trained(got: Any, setup: dict[str, Any], what: str) -> None:
    want = simulate_training(setup)
    expect(
        type(got) is list and len(got) == len(want),
        f"{what}: the model should still have {len(want)} parameters",
    )
    if all(_agrees(g, w) for g, w in zip(got, want, strict=True)):
        return
    misconception = _replayed_mistake(got, lambda flaw: simulate_training(setup, flaw))
    for name, g, w in zip(PARAM_NAMES, got, want, strict=True):
        expect_tensor(
            g,
            w,
            f"{what}: model.{name}",
            wrong={misconception: lambda _: True} if misconception else {},
        )


def _training_call(setup: dict[str, Any]) -> str:
    n_in, n_hidden, n_out = setup["sizes"]
    options = ", ".join(f"{k}={_fmt(v)}" for k, v in setup["kwargs"].items())
    return (
        f"AdamW(model.parameters(), {options}) on Linear({n_in}, {n_hidden})-Tanh-"
        f"Linear({n_hidden}, {n_out}), {setup['steps']} steps"
    )


@points(2)
def test_training_loop(learner, rng):
    """AdamW trains a model in a zero_grad / backward / step loop like torch.optim.AdamW"""
    setup = _model_setup(rng)
    obs = _run(learner, "train", ("params",), setup)
    _expect_trained(obs["params"], setup, f"training with {_training_call(setup)}")


@points(1)
def test_step_closure(learner, rng):
    """step(closure) evaluates the closure first and returns its loss"""
    setup = _model_setup(rng)
    reports = ("returned", "is_closure_loss", "closure_losses")  # one of each per step
    obs = _run(learner, "train_with_closure", ("params", *reports), setup)
    what = f"optimizer.step(closure) with {_training_call(setup)}"
    steps = [observed(obs[key], list, length=setup["steps"]) for key in reports]
    for k, (returned, same, loss) in enumerate(zip(*steps, strict=True)):
        expect(
            loss is not None,
            f"{what}: step {k + 1} never called closure(). step(closure) must call it (it "
            "recomputes the loss and the gradients) before updating",
        )
        if same:
            continue
        value = (
            returned.item()
            if type(returned) is torch.Tensor and returned.numel() == 1
            else returned
        )
        expect(
            type(value) in (int, float) and math.isclose(value, loss, rel_tol=1e-6),
            f"{what}: step {k + 1} returned "
            + ("None" if returned is None else type_name(returned))
            + (f" {value:.6g}" if type(value) in (int, float) else "")
            + f", not the loss the closure returned ({loss:.6g}): return closure()'s result",
        )
    _expect_trained(obs["params"], setup, what)
