"""Hidden checks for ex11_modules: MLP's registered layers, forward and gradients, and
RunningStandardize against nn.BatchNorm1d(affine=False) in training and eval mode, with its
statistics kept as buffers."""

from typing import Any

import torch
from torch import Tensor, nn

from grader.kit import (
    Misconception,
    close,
    context,
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
    uniform,
)
from grader.worker.scenarios.ex11_modules import STATS, seeded_layers

# the notebook's visible sanity test: torch and the kata's own names only
SANITY = """
import torch
from torch import nn
net = MLP([4, 5, 3])  # Linear(4, 5) and Linear(5, 3): 25 + 18 parameters
assert sum(p.numel() for p in net.parameters()) == 43, "MLP([4, 5, 3]): 43 registered parameters"
assert net(torch.ones(2, 4)).shape == (2, 3), "MLP([4, 5, 3]) should map (2, 4) to (2, 3)"
norm, bn = RunningStandardize(3), nn.BatchNorm1d(3, affine=False)
xb = torch.tensor([[1.0, 2.0, 0.0], [3.0, -1.0, 2.0], [0.5, 0.0, 4.0], [2.0, 1.0, -2.0]])  # (N, C)
assert torch.allclose(norm(xb), bn(xb), atol=1e-5), "in training mode, should match nn.BatchNorm1d"
running_var = norm.state_dict()["running_var"]  # a buffer: saved in state_dict
assert torch.allclose(running_var, bn.running_var), "running_var should be updated like BatchNorm's"
"""

PLAIN_LIST = Misconception(
    "ex11/plain-list",
    "nn.Module registers a layer only when you assign it as an attribute "
    "(self.fc = nn.Linear(...)) or keep it in an nn.ModuleList or nn.Sequential. Inside a plain "
    "Python list it is invisible: "
    "parameters() misses it, so no optimizer trains it, and state_dict() and .to() skip it. "
    "Use self.layers = nn.ModuleList([...]).",
)
RELU_AFTER_LAST = Misconception(
    "ex11/relu-after-last",
    "ReLU goes between the layers, not after the last one: the last Linear's output (logits, "
    "regression targets) must be free to go negative. Apply ReLU after every layer but the last.",
)
NO_RELU = Misconception(
    "ex11/no-relu-between",
    "Without a nonlinearity between them, stacked Linear layers collapse into one linear map: "
    "W2 @ (W1 @ x + b1) + b2 is again W @ x + b. Apply ReLU to the output of every layer but "
    "the last.",
)
STATS_PLAIN_ATTRIBUTES = Misconception(
    "ex11/stats-plain-attributes",
    "A tensor kept as a plain attribute is not part of the module's state: state_dict() leaves it "
    "out (it is never saved or loaded) and .to(), .double() and .cuda() leave it behind. Register "
    "it: self.register_buffer('running_mean', torch.zeros(num_features)). Assigning a tensor to "
    "that name later keeps it a buffer.",
)
STATS_AS_PARAMETERS = Misconception(
    "ex11/stats-as-parameters",
    "Running statistics are measured, not learned: as nn.Parameters they show up in parameters(), "
    "so an optimizer would push them around with gradients. Keep them as buffers: "
    "self.register_buffer('running_mean', torch.zeros(num_features)), which state_dict() saves "
    "and .to() moves, but parameters() does not list.",
)
UPDATES_IN_EVAL = Misconception(
    "ex11/updates-in-eval",
    "In eval mode (self.training is False) the running statistics are frozen: evaluating a model "
    "must not change it. Update them only when self.training is True.",
)
BATCH_STATS_IN_EVAL = Misconception(
    "ex11/batch-stats-in-eval",
    "In eval mode normalise with running_mean and running_var, not with the batch's own mean and "
    "variance: an example must get the same output whatever else is in its batch (even alone). "
    "Branch on self.training.",
)
BIASED_RUNNING_VAR = Misconception(
    "ex11/biased-running-var",
    "BatchNorm uses two variances. It normalises the batch with the biased one (divide by N: "
    "x.var(0, unbiased=False)), but running_var tracks the unbiased one (divide by N - 1: "
    "x.var(0)), the better estimate of the data's variance for use in eval mode.",
)
UNBIASED_NORMALIZATION = Misconception(
    "ex11/unbiased-normalization",
    "In training mode BatchNorm normalises the batch with its biased variance (divide by N: "
    "x.var(0, unbiased=False)), so each output column has variance exactly 1 (up to eps). The "
    "unbiased variance (N - 1) is only for updating running_var.",
)
MOMENTUM_FLIPPED = Misconception(
    "ex11/momentum-flipped",
    "In PyTorch momentum is the weight of the NEW batch statistic: "
    "running = (1 - momentum) * running + momentum * batch_stat. With momentum=0.1 the running "
    "statistics move a tenth of the way towards each batch's.",
)
EPS_OUTSIDE_SQRT = Misconception(
    "ex11/eps-outside-sqrt",
    "eps goes inside the square root: (x - mean) / sqrt(var + eps). It keeps the division safe "
    "when a column's variance is 0, and BatchNorm defines it that way.",
)
DETACHED_BATCH_STATS = Misconception(
    "ex11/detached-batch-stats",
    "In training mode the output depends on x through the batch mean and variance too, and "
    "BatchNorm backpropagates through them. Compute mean and var from x with autograd on; only "
    "the update of the running statistics belongs under torch.no_grad().",
)
STATS_TRACK_GRAD = Misconception(
    "ex11/stats-track-grad",
    "The batch mean and variance carry autograd history (they are computed from x), so running "
    "statistics built from them chain every step's graph onto the module: memory grows with each "
    "step. Update the statistics under torch.no_grad(), or from .detach()ed batch statistics.",
)

STEP = ("output", *STATS)  # what a scenario reports after each forward pass
# torch's errors when running statistics are nn.Parameters updated like tensors
PARAMETER_UPDATE_ERRORS = r"as parameter|leaf Variable that requires grad"


def _steps(seen: dict, count: int) -> list[dict[str, Any]]:
    """The scenario's per-step reports, one per batch, each holding `STEP`'s keys."""
    return observed(seen["steps"], list, *STEP, length=count)


# ---------------------------------------------------------------- MLP


def _mlp_sizes(rng: torch.Generator) -> list[int]:
    return [size(rng) for _ in range(size(rng, 3, 5))]  # 2 to 4 layers


def _layer_names(pairs: list[tuple[int, int]]) -> str:
    return ", ".join(f"Linear({fan_in}, {fan_out})" for fan_in, fan_out in pairs) or "none"


def _pairs(sizes: Any) -> list[tuple[int, int]]:
    return list(zip(sizes[:-1], sizes[1:], strict=False))


def _reference_mlp(sizes: list[int], seed: int, x: Tensor, relu: bool = True) -> Tensor:
    """Linear, ReLU, ..., Linear with the seeded weights: what MLP(sizes) computes."""
    layers = seeded_layers(sizes, seed)
    for i, (weight, bias) in enumerate(layers):
        x = x @ weight.T + bias
        if relu and i < len(layers) - 1:
            x = x.relu()
    return x


def _seed_with_negative_outputs(rng: torch.Generator, sizes: list[int], x: Tensor) -> int:
    """A weight seed for which the MLP's output has clearly negative entries, so that a ReLU
    after the last layer shows, and that some hidden ReLU changes, so that a missing one shows."""
    while True:
        seed = random_seed(rng)
        want = _reference_mlp(sizes, seed, x)
        if want.min() < -0.1 and not close(_reference_mlp(sizes, seed, x, relu=False), want):
            return seed


def _expect_layers_called(seen: dict, sizes: list[int], call: str) -> None:
    """The learner's forward called one nn.Linear per pair of sizes, in order, with biases."""
    want = _pairs(sizes)
    got = [tuple(observed(layer, list, length=2)) for layer in observed(seen["layers"], list)]
    if got != want:
        fail(
            f"{call} should run the nn.Linear layers {_layer_names(want)} in this order; "
            f"its forward runs {_layer_names(got)}"
        )
    if "output" not in seen:
        fail(f"{call}: its nn.Linear layers should have biases (nn.Linear's default)")


@points(2)
def test_mlp_registers_layers(learner, rng):
    """MLP registers one nn.Linear per pair of sizes, with all their parameters"""
    square = size(rng)
    for sizes in (_mlp_sizes(rng), tuple(distinct_sizes(rng, 2)), [square] * 3):
        call = f"MLP({sizes!r})"
        with context(call):
            seen = learner.scenario("mlp_structure", sizes)
        seen = observed(seen, dict, "parameters", "linears", "state_dict", "plain_holders")
        linears = observed(seen["linears"], list, "in", "out", "bias")
        parameters = observed(seen["parameters"], dict)
        want = _pairs(sizes)
        got = [(linear["in"], linear["out"]) for linear in linears]
        if sorted(got) != sorted(want):
            holders = observed(seen["plain_holders"], list)
            if len(got) < len(want) and holders:
                fail(
                    f"{call} registers {len(got)} of its {len(want)} nn.Linear layers "
                    f"({_layer_names(got)}); {', '.join(f'self.{h}' for h in holders)} keeps "
                    "modules in a plain Python container, where nn.Module cannot see them",
                    PLAIN_LIST,
                )
            fail(
                f"{call} should register the nn.Linear layers {_layer_names(want)} "
                f"(one per pair of neighbouring sizes); it registers {_layer_names(got)}"
            )
        expect(
            all(linear["bias"] for linear in linears),
            f"{call}: its nn.Linear layers should have biases (nn.Linear's default)",
        )
        want_shapes = sorted(shape for a, b in want for shape in ([b, a], [b]))
        got_shapes = sorted(parameters.values())
        names = ", ".join(parameters)
        expect(
            got_shapes == want_shapes,
            f"{call}.named_parameters() lists {names}; it should list exactly the weight and "
            "bias of each Linear layer",
        )
        missing = [name for name in parameters if name not in seen["state_dict"]]
        expect(not missing, f"{call}.state_dict() leaves out {', '.join(missing)}")


@points(1)
def test_mlp_forward(learner, rng):
    """MLP.forward applies ReLU between the layers, not after the last"""
    square = size(rng)
    cases = [(_mlp_sizes(rng), size(rng)), ([square] * size(rng, 3, 4), square)]
    for sizes, batch in cases:
        x = torch.randn(batch, sizes[0], generator=rng)
        seed = _seed_with_negative_outputs(rng, sizes, x)
        call = f"MLP({sizes!r}) on x of shape {fmt_shape(x.shape)}"
        with context(call):
            seen = learner.scenario("mlp_forward", sizes, seed, x)
        _expect_layers_called(observed(seen, dict, "layers"), sizes, call)
        want = _reference_mlp(sizes, seed, x)
        expect_tensor(
            seen["output"],
            want,
            call,
            rtol=1e-4,
            atol=1e-5,
            wrong={
                RELU_AFTER_LAST: want.relu(),
                NO_RELU: _reference_mlp(sizes, seed, x, relu=False),
            },
        )


@points(1)
def test_mlp_gradients(learner, rng):
    """gradients reach the weights and biases of every MLP layer"""
    sizes = [size(rng) for _ in range(4)]
    x = torch.randn(size(rng), sizes[0], generator=rng)
    upstream = torch.randn(x.shape[0], sizes[-1], generator=rng)
    seed = _seed_with_negative_outputs(rng, sizes, x)
    call = f"MLP({sizes!r}) on x of shape {fmt_shape(x.shape)}, then backward"
    with context(call):
        seen = learner.scenario("mlp_grads", sizes, seed, x, upstream)
    _expect_layers_called(observed(seen, dict, "layers"), sizes, call)
    seen = observed(seen, dict, "output", "grads")

    layers = [
        (w.clone().requires_grad_(True), b.clone().requires_grad_(True))
        for w, b in seeded_layers(sizes, seed)
    ]
    h = x
    for i, (weight, bias) in enumerate(layers):
        h = h @ weight.T + bias
        h = h.relu() if i < len(layers) - 1 else h
    (h * upstream).sum().backward()
    expect_tensor(
        seen["output"],
        h.detach(),
        call,
        rtol=1e-4,
        atol=1e-5,
        wrong={RELU_AFTER_LAST: h.relu(), NO_RELU: _reference_mlp(sizes, seed, x, relu=False)},
    )
    grads = observed(seen["grads"], list, length=len(layers))
    for i, ((weight, bias), got) in enumerate(zip(layers, grads, strict=True)):
        got = observed(got, list, length=2)  # (weight, bias)
        for name, param, grad in (("weight", weight, got[0]), ("bias", bias, got[1])):
            what = f"the gradient of layer {i}'s {name}"
            expect(
                grad is not None,
                f"{call}: {what} is None: the output is cut off from that layer "
                "(torch.no_grad(), .detach() or .data in forward?)",
            )
            expect_tensor(grad, param.grad, f"{call}: {what}", rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- RunningStandardize


def _options(rng: torch.Generator) -> tuple[float, float]:
    """A random momentum (not 0.5, where flipping it hides) and an eps large enough to matter."""
    momentum = round(uniform(rng, 0.05, 0.4), 3)
    eps = round(10 ** uniform(rng, -3, -0.5), 5)
    return momentum, eps


def _batches(rng: torch.Generator, count: int, features: int, low: int = 2) -> list[Tensor]:
    """Batches of random sizes (one with N == C) whose columns have their own mean and scale."""
    rows = [size(rng, low) for _ in range(count - 1)] + [features]
    scale = torch.rand(features, generator=rng) * 2.5 + 0.5
    shift = torch.randn(features, generator=rng) * 2
    return [torch.randn(n, features, generator=rng) * scale + shift for n in rows]


def _layer_call(features: int, momentum: float | None, eps: float | None) -> str:
    options = "" if momentum is None else f", momentum={momentum}, eps={eps}"
    return f"RunningStandardize({features}{options})"


def _stat(stats: Any, name: str, where: str) -> Any:
    """The learner's statistic `name` as a tensor, after checking it is one without history."""
    stat = observed(observed(stats, dict, name)[name], dict, "type")
    if stat["type"] == "absent":
        fail(
            f"{where}: the layer has no attribute {name}; keep the running statistics as "
            "self.running_mean and self.running_var, the names BatchNorm uses"
        )
    if "value" not in stat:
        fail(f"{where}: {name} should be a tensor, got {stat['type']}")
    if observed(stat, dict, "history")["history"]:
        fail(f"{where}: {name} carries autograd history (it has a grad_fn)", STATS_TRACK_GRAD)
    return stat["value"]


def _normalized(x: Tensor, var: Tensor, eps: float) -> Tensor:
    return (x - x.mean(0)) / (var + eps).sqrt()


@points(2)
def test_standardize_train(learner, rng):
    """RunningStandardize matches nn.BatchNorm1d(affine=False) in training mode, step by step"""
    for momentum, eps in (_options(rng), (None, None)):
        features = size(rng)
        batches = _batches(rng, 4, features)
        upstreams = [torch.randn(x.shape, generator=rng) for x in batches]
        call = _layer_call(features, momentum, eps)
        with context(call), explain(STATS_AS_PARAMETERS, when=PARAMETER_UPDATE_ERRORS):
            seen = learner.scenario(
                "standardize_train", features, momentum, eps, batches, upstreams
            )
        seen = observed(seen, dict, "initial", "steps")

        bn = nn.BatchNorm1d(features, affine=False, momentum=momentum or 0.1, eps=eps or 1e-5)
        m, eps = bn.momentum, bn.eps
        where = f"{call} right after construction"
        for name in STATS:
            want = getattr(bn, name)
            expect_tensor(_stat(seen["initial"], name, where), want, f"{where}: {name}")
        for k, (x, upstream, step) in enumerate(
            zip(batches, upstreams, _steps(seen, len(batches)), strict=True)
        ):
            where = f"{call}, training step {k + 1} (a batch of {x.shape[0]} rows)"
            step = observed(step, dict, "input_grad")
            previous_mean, previous_var = bn.running_mean.clone(), bn.running_var.clone()
            leaf = x.clone().requires_grad_(True)
            output = bn(leaf)
            (output * upstream).sum().backward()
            mean, var, var_unbiased = x.mean(0), x.var(0, unbiased=False), x.var(0)

            expect_tensor(
                step["output"],
                output.detach(),
                f"{where}: the output",
                rtol=1e-4,
                atol=1e-5,
                wrong={
                    UNBIASED_NORMALIZATION: _normalized(x, var_unbiased, eps),
                    EPS_OUTSIDE_SQRT: (x - mean) / (var.sqrt() + eps),
                },
            )
            expect(
                step["input_grad"] is not None,
                f"{where}: no gradient reached the input; the output should come from x "
                "through autograd (only the running-statistics update belongs under no_grad)",
            )
            expect_tensor(
                step["input_grad"],
                leaf.grad,
                f"{where}: the gradient of the input (backpropagated through the batch mean "
                "and variance too)",
                rtol=1e-3,
                atol=1e-4,
                wrong={DETACHED_BATCH_STATS: upstream / (var + eps).sqrt()},
            )
            expect_tensor(
                _stat(step, "running_mean", where),
                bn.running_mean,
                f"{where}: running_mean",
                wrong={MOMENTUM_FLIPPED: m * previous_mean + (1 - m) * mean},
            )
            expect_tensor(
                _stat(step, "running_var", where),
                bn.running_var,
                f"{where}: running_var",
                wrong={
                    BIASED_RUNNING_VAR: (1 - m) * previous_var + m * var,
                    MOMENTUM_FLIPPED: m * previous_var + (1 - m) * var_unbiased,
                },
            )


@points(2)
def test_standardize_eval(learner, rng):
    """RunningStandardize in eval mode normalises with its running statistics and keeps them"""
    momentum, eps = _options(rng)
    features = size(rng)
    train_batches = _batches(rng, 2, features)
    # eval batches from elsewhere, so that batch statistics and running ones differ; then one row
    eval_batches = [*_batches(rng, 2, features), torch.randn(1, features, generator=rng)]
    call = f"{_layer_call(features, momentum, eps)} after {len(train_batches)} training steps"
    with context(call), explain(STATS_AS_PARAMETERS, when=PARAMETER_UPDATE_ERRORS):
        seen = learner.scenario(
            "standardize_eval", features, momentum, eps, train_batches, eval_batches
        )
    seen = observed(seen, dict, "before", "steps")
    before = {name: _stat(seen["before"], name, call) for name in STATS}
    for name, value in before.items():
        expect(
            type(value) is Tensor and value.shape == (features,) and value.is_floating_point(),
            f"{call}: {name} should be a float tensor of shape ({features},), got "
            f"{value.dtype} of shape {fmt_shape(value.shape)}",
        )
    for x, step in zip(eval_batches, _steps(seen, len(eval_batches)), strict=True):
        where = f"{call}, then .eval() and a batch of {x.shape[0]} row(s)"
        for name, value in before.items():
            got = _stat(step, name, where)
            unchanged = (
                type(got) is Tensor and got.shape == value.shape and bool((got == value).all())
            )
            expect(unchanged, f"{where}: {name} changed in eval mode", UPDATES_IN_EVAL)
        running_mean, running_var = before["running_mean"], before["running_var"]
        expect_tensor(
            step["output"],
            (x - running_mean) / (running_var + eps).sqrt(),
            f"{where}: the output",
            rtol=1e-4,
            atol=1e-5,
            wrong={
                BATCH_STATS_IN_EVAL: _normalized(x, x.var(0, unbiased=False), eps),
                EPS_OUTSIDE_SQRT: (x - running_mean) / (running_var.sqrt() + eps),
            },
        )


@points(2)
def test_standardize_buffers(learner, rng):
    """running_mean and running_var are buffers: in state_dict, moved by .to(), not parameters"""
    features = size(rng)
    call = f"RunningStandardize({features})"
    with context(call):
        seen = learner.scenario("standardize_buffers", features)
    seen = observed(seen, dict, "parameters", "buffers", "state_dict", "types", "dtypes_after_to")
    types = observed(seen["types"], dict)
    dtypes = observed(seen["dtypes_after_to"], dict)
    for name in STATS:
        kind = types.get(name)
        if kind == "absent":
            fail(
                f"{call} has no attribute {name}: keep the running statistics as "
                "self.running_mean and self.running_var, the names BatchNorm uses"
            )
        if kind == "Parameter" or name in seen["parameters"]:
            fail(f"{call}.{name} is an nn.Parameter, listed in parameters()", STATS_AS_PARAMETERS)
        if name not in seen["buffers"]:
            fail(
                f"{call}.{name} is a plain attribute ({kind}), not a registered buffer; "
                f"state_dict() holds {', '.join(seen['state_dict']) or 'nothing'}",
                STATS_PLAIN_ATTRIBUTES,
            )
        expect(
            name in seen["state_dict"],
            f"{call}.{name} is a buffer but not in state_dict(): registered with "
            "persistent=False? The running statistics must be saved with the model.",
        )
        dtype = dtypes.get(name)
        expect(
            dtype == torch.float64,
            f"after {call}.to(torch.float64), {name} is {dtype}, not torch.float64",
            STATS_PLAIN_ATTRIBUTES,
        )
    expect(
        not seen["parameters"],
        f"{call} registers the parameters {', '.join(seen['parameters'])}; like "
        "BatchNorm1d(affine=False) it learns nothing, so parameters() should be empty",
    )
