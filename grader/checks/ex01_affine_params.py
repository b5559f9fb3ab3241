"""Hidden checks for ex01_affine_params: the counts, Affine against nn.Linear, count_parameters."""

from typing import Any

import torch

from grader.kit import (
    Misconception,
    close,
    context,
    distinct_sizes,
    expect_number,
    expect_tensor,
    explain,
    fail,
    fmt_shape,
    observed,
    points,
    random_seed,
    size,
)
from grader.worker.scenarios.ex01_affine_params import build_model, seeded_linear

# the notebook's visible sanity test: torch and the kata's own names only
SANITY = """
import torch
from torch import nn
torch.manual_seed(0)
linear, layer = nn.Linear(3, 2), Affine(3, 2)
layer.load_state_dict(linear.state_dict())  # works only if weight is (out, in) and bias (out,)
xb = torch.randn(4, 3)
assert torch.allclose(layer(xb), linear(xb)), "Affine should match nn.Linear with the same weights"
assert affine_param_count(3, 2) == 8, "affine_param_count(3, 2): 3 * 2 weights + 2 biases = 8"
assert count_parameters(linear) == 8, "count_parameters(nn.Linear(3, 2)) should be 8"
"""

FORGOT_BIAS = Misconception(
    "ex01/forgot-bias",
    "An affine map is x @ W.T + b: besides the out*in weights there is one bias per output "
    "feature, so out_features more parameters (none only when bias=False).",
)
COUNTED_TENSORS = Misconception(
    "ex01/counted-tensors",
    "A parameter is a whole tensor of numbers: count its elements with p.numel() (the product "
    "of its shape), not each tensor as 1.",
)
UNREGISTERED = Misconception(
    "ex01/unregistered-weight",
    "A plain tensor stored on a module is invisible to it: it is not in .parameters() (so no "
    "optimizer updates it) nor in state_dict() (so it is never saved or loaded). Wrap it: "
    "self.weight = nn.Parameter(torch.randn(out_features, in_features)); the same for bias.",
)
TRANSPOSED = Misconception(
    "ex01/transposed-weight",
    "nn.Linear stores its weight as (out_features, in_features), one row per output. Create it "
    "with that shape and compute x @ self.weight.T, so that nn.Linear's state_dict loads.",
)
COUNTED_BUFFERS = Misconception(
    "ex01/counted-buffers",
    "Buffers such as BatchNorm's running_mean, running_var and num_batches_tracked are in "
    "state_dict() but are not parameters: nothing learns them. Sum over module.parameters() only.",
)
DOUBLE_COUNTED_TIED = Misconception(
    "ex01/double-counted-tied",
    "This model uses one Parameter in two places (a tied embedding and output head). It is one "
    "tensor, so it counts once: module.parameters() yields each Parameter once, while "
    "state_dict() or named_parameters(remove_duplicate=False) list it under both names.",
)
LEADING_DIMS = Misconception(
    "ex01/leading-dims",
    "x may have any leading dims: (in,), (B, in) or (B, T, in) -> (..., out). x @ self.weight.T "
    "handles them all (matmul acts on the last dim and b broadcasts), while .mm, addmm or a "
    "2-D einsum take matrices only.",
)

# torch's messages when a matmul meets the wrong shapes
MATMUL_SHAPES = r"cannot be multiplied|size mismatch|must match the size|shapes cannot"


# ---------------------------------------------------------------- Affine's structure


def _expect_tensor_attribute(seen: Any, name: str, shape: list[int], layer: str) -> None:
    """The attribute `name` of the learner's layer is a float32 nn.Parameter of `shape`."""
    attribute = f"{layer}.{name}"
    seen = observed(seen, dict, "type")
    if seen["type"] != "Parameter":
        if "shape" in seen:
            fail(f"{attribute} is a plain {seen['type']}, not an nn.Parameter", UNREGISTERED)
        fail(f"{attribute} should be an nn.Parameter, got {seen['type']}")
    seen = observed(seen, dict, "shape", "dtype", "requires_grad")
    if seen["shape"] != shape:
        transposed = len(shape) == 2 and seen["shape"] == shape[::-1]
        fail(
            f"{attribute} should have shape {fmt_shape(shape)}, got {fmt_shape(seen['shape'])}",
            TRANSPOSED if transposed else None,
        )
    if seen["dtype"] != torch.float32:
        fail(f"{attribute} should be float32 (torch's default dtype), got {seen['dtype']}")
    if not seen["requires_grad"]:
        fail(
            f"{attribute}.requires_grad is False: an nn.Parameter requires grad by default, "
            "and a layer's weights must, to be trained"
        )


def _expect_structure(seen: Any, in_features: int, out_features: int, bias: bool) -> None:
    """The learner's Affine registers exactly what nn.Linear registers, with its shapes."""
    layer = f"Affine({in_features}, {out_features}{'' if bias else ', bias=False'})"
    seen = observed(seen, dict, "attributes", "parameters", "state_dict")
    attributes = observed(seen["attributes"], dict, "weight", "bias")
    weight, got_bias = attributes["weight"], attributes["bias"]
    if weight in ("absent", None):
        fail(f"{layer} has no weight: store it as self.weight, the name nn.Linear uses")
    _expect_tensor_attribute(weight, "weight", [out_features, in_features], layer)
    if bias:
        if got_bias in ("absent", None):
            has = "has no bias" if got_bias == "absent" else "has bias None"
            want = fmt_shape([out_features])
            fail(f"{layer} {has}, but bias=True asks for one of shape {want}", FORGOT_BIAS)
        _expect_tensor_attribute(got_bias, "bias", [out_features], layer)
    elif got_bias == "absent":
        fail(
            f"{layer} has no bias attribute: like nn.Linear, set it to None when bias=False "
            "(self.bias = None, or self.register_parameter('bias', None))"
        )
    elif got_bias is not None:
        fail(
            f"{layer}.bias should be None, got a {observed(got_bias, dict, 'type')['type']}: "
            "bias=False means no bias parameter at all, so nn.Linear(..., bias=False)'s "
            "state_dict holds only weight"
        )

    want = {"weight": [out_features, in_features], **({"bias": [out_features]} if bias else {})}
    listed = ", ".join(f"{key} {fmt_shape(shape)}" for key, shape in want.items())
    registered = observed(seen["parameters"], dict)
    if registered != want:
        names = ", ".join(registered) or "nothing"
        fail(f"{layer} registers the parameters {names}; nn.Linear registers exactly {listed}")
    state = observed(seen["state_dict"], dict)
    if state != want:
        fail(
            f"{layer}.state_dict() has the keys {', '.join(state) or 'none'}; nn.Linear's has "
            f"exactly {listed}, so its state_dict could not load"
        )


def _expect_loaded(seen: Any, in_features: int, out_features: int, bias: bool, *keys: str) -> dict:
    """nn.Linear's state_dict loaded into the learner's Affine (diagnosed through its structure);
    the scenario's report, holding `keys` once it has loaded."""
    seen = observed(seen, dict, "structure", "load_error")
    _expect_structure(seen["structure"], in_features, out_features, bias)
    if seen["load_error"]:
        fail(
            f"nn.Linear({in_features}, {out_features}).state_dict() does not load into your "
            f"Affine: {seen['load_error']}"
        )
    return observed(seen, dict, *keys)


# ---------------------------------------------------------------- checks


@points(1)
def test_affine_param_count(learner, rng):
    """affine_param_count counts every weight and bias"""
    in_features, out_features = size(rng, 2, 300), size(rng, 2, 300)
    cases = [
        (in_features, out_features, None),
        (out_features, in_features, False),
        (in_features, in_features, True),
    ]
    for fan_in, fan_out, bias in cases:
        if bias is None:
            call, bias = f"affine_param_count({fan_in}, {fan_out})", True
            got = learner.affine_param_count(fan_in, fan_out)
        else:
            call = f"affine_param_count({fan_in}, {fan_out}, bias={bias})"
            got = learner.affine_param_count(fan_in, fan_out, bias=bias)
        weights = fan_in * fan_out
        expect_number(
            got,
            weights + fan_out * bias,
            call,
            kind=int,
            wrong={
                FORGOT_BIAS: lambda g, bias=bias, weights=weights: bias and g == weights,
                COUNTED_TENSORS: lambda g, bias=bias: g == 1 + bias,
            },
        )


@points(1)
def test_mlp_param_count(learner, rng):
    """mlp_param_count counts a stack of nn.Linear layers with biases"""
    depth = size(rng, 3, 5)
    random_sizes = tuple(size(rng, 1, 200) for _ in range(depth))
    for sizes in ([784, 128, 10], random_sizes, list(random_sizes[:2])):
        pairs = list(zip(sizes[:-1], sizes[1:], strict=False))
        want = sum(fan_in * fan_out + fan_out for fan_in, fan_out in pairs)
        layers = ", ".join(f"Linear({fan_in}, {fan_out})" for fan_in, fan_out in pairs)
        expect_number(
            learner.mlp_param_count(sizes),
            want,
            f"mlp_param_count({sizes!r}), layers {layers}",
            kind=int,
            wrong={
                FORGOT_BIAS: sum(fan_in * fan_out for fan_in, fan_out in pairs),
                COUNTED_TENSORS: (len(pairs), 2 * len(pairs)),
            },
        )


@points(2)
def test_affine_registers_parameters(learner, rng):
    """Affine registers weight (out, in) and bias (out,) as nn.Parameters, like nn.Linear"""
    in_features, out_features = distinct_sizes(rng, 2)  # different, so a transpose shows
    call = f"Affine({in_features}, {out_features})"
    with context(call):
        seen = learner.scenario("affine_structure", in_features, out_features, True)
    _expect_structure(seen, in_features, out_features, True)


@points(2)
def test_affine_forward(learner, rng):
    """Affine loads nn.Linear's state_dict and computes x @ W.T + b over any leading dims"""
    in_features, out_features = distinct_sizes(rng, 2)
    batch, steps = size(rng), size(rng)
    cases = [
        (in_features, out_features, (batch, in_features)),
        (in_features, out_features, (batch, steps, in_features)),
        (in_features, out_features, (in_features,)),
        (out_features, out_features, (batch, out_features)),  # square: a transpose is silent
    ]
    for fan_in, fan_out, shape in cases:
        seed, x = random_seed(rng), torch.randn(shape, generator=rng)
        call = f"Affine({fan_in}, {fan_out}) on x of shape {fmt_shape(shape)}"
        # 2-D inputs come first: an error only with other leading dims is about those dims
        misconception, when = (TRANSPOSED, MATMUL_SHAPES) if x.dim() == 2 else (LEADING_DIMS, "")
        with context(call), explain(misconception, when=when):
            seen = learner.scenario("affine_forward", fan_in, fan_out, True, seed, x)
        seen = _expect_loaded(seen, fan_in, fan_out, True, "output")
        linear = seeded_linear(fan_in, fan_out, True, seed)
        weight, bias = linear.weight.detach(), linear.bias.detach()
        expect_tensor(
            seen["output"],
            x @ weight.T + bias,
            call,
            rtol=1e-4,
            atol=1e-5,
            wrong={
                FORGOT_BIAS: lambda g, x=x, w=weight: close(g, x @ w.T),
                TRANSPOSED: lambda g, x=x, w=weight, b=bias: close(g, x @ w + b),
                LEADING_DIMS: lambda g, x=x: x.dim() != 2 and g.shape[:-1] != x.shape[:-1],
            },
        )


@points(1)
def test_affine_without_bias(learner, rng):
    """Affine(in, out, bias=False) has a weight, no bias, and computes x @ W.T"""
    in_features, out_features = distinct_sizes(rng, 2)
    seed, x = random_seed(rng), torch.randn(size(rng), in_features, generator=rng)
    call = f"Affine({in_features}, {out_features}, bias=False) on x of shape {fmt_shape(x.shape)}"
    with context(call), explain(TRANSPOSED, when=MATMUL_SHAPES):
        seen = learner.scenario("affine_forward", in_features, out_features, False, seed, x)
    seen = _expect_loaded(seen, in_features, out_features, False, "output")
    weight = seeded_linear(in_features, out_features, False, seed).weight.detach()
    expect_tensor(
        seen["output"],
        x @ weight.T,
        call,
        rtol=1e-4,
        atol=1e-5,
        wrong={TRANSPOSED: lambda g: close(g, x @ weight)},
    )


@points(1)
def test_affine_gradients(learner, rng):
    """backward through Affine reaches its weight, its bias and its input"""
    in_features, out_features = distinct_sizes(rng, 2)
    seed, batch = random_seed(rng), size(rng)
    x = torch.randn(batch, in_features, generator=rng, requires_grad=True)
    upstream = torch.randn(batch, out_features, generator=rng)
    call = f"Affine({in_features}, {out_features}) on x of shape {fmt_shape(x.shape)}"
    with context(f"{call}, then backward"), explain(TRANSPOSED, when=MATMUL_SHAPES):
        seen = learner.scenario("affine_grads", in_features, out_features, seed, x, upstream)
    seen = _expect_loaded(seen, in_features, out_features, True, "output", "grads", "input_grad")

    linear = seeded_linear(in_features, out_features, True, seed)
    x_ref = x.detach().clone().requires_grad_(True)
    want_output = linear(x_ref)
    (want_output * upstream).sum().backward()  # as the scenario does: backward(upstream) is slow
    no_bias = x_ref.detach() @ linear.weight.detach().T
    expect_tensor(
        seen["output"],
        want_output.detach(),
        call,
        rtol=1e-4,
        atol=1e-5,
        wrong={FORGOT_BIAS: no_bias},
    )
    wanted = {
        "weight": linear.weight.grad,
        "bias": linear.bias.grad,
        "input": x_ref.grad,
    }
    got = {**observed(seen["grads"], dict), "input": seen["input_grad"]}
    for name, want in wanted.items():
        if got.get(name) is None:
            fail(
                f"after backward, the gradient of Affine's {name} is None: the output is not "
                f"connected to the {name} through autograd (.data, .detach(), torch.no_grad() "
                "or a copy into a new tensor in forward cut the graph)"
            )
        expect_tensor(got[name], want, f"the gradient of Affine's {name}", rtol=1e-4, atol=1e-4)


def _model(kind: str, sizes: list[int]) -> str:
    """The model of that kind, in the learner's words."""
    a, b, c, d = sizes
    return {
        "mlp": f"Sequential(Linear({a}, {b}), ReLU(), "
        f"Sequential(Linear({b}, {c}, bias=False), Tanh()))",
        "batchnorm": f"Sequential(Linear({a}, {b}), BatchNorm1d({b}), ReLU(), Linear({b}, {c}))",
        "tied": f"a model whose Embedding({a}, {b}) and output Linear({b}, {a}, bias=False) "
        f"share one weight, with Linear({b}, {c}) and Linear({c}, {b}) between them",
        "frozen": f"Sequential(Linear({a}, {b}), ReLU(), Linear({b}, {c}), Linear({c}, {d})) "
        "with the first Linear and the last bias frozen (requires_grad=False)",
    }[kind]


def _count(learner, kind: str, sizes: list[int], trainable_only: bool | None, wrong: dict) -> None:
    """Check the learner's count_parameters on a model built the same way in the worker."""
    model = build_model(kind, sizes)
    params = list(model.parameters())
    want = sum(p.numel() for p in params if p.requires_grad or not trainable_only)
    option = "" if trainable_only is None else f", trainable_only={trainable_only}"
    call = f"count_parameters(model{option}) for {_model(kind, sizes)}"
    with context(call):
        got = learner.scenario("count", kind, sizes, trainable_only)
    counted_tensors = len([p for p in params if p.requires_grad or not trainable_only])
    expect_number(got, want, call, kind=int, wrong={COUNTED_TENSORS: counted_tensors, **wrong})


@points(1)
def test_count_parameters(learner, rng):
    """count_parameters counts the elements of every parameter, never buffers"""
    for kind in ("mlp", "batchnorm"):
        sizes = distinct_sizes(rng, 4)
        model = build_model(kind, sizes)
        params = sum(p.numel() for p in model.parameters())
        buffers = [b.numel() for b in model.buffers()]
        # with or without the one-element num_batches_tracked counter
        with_buffers = (params + sum(buffers), params + sum(buffers[:-1]))
        _count(learner, kind, sizes, None, wrong={COUNTED_BUFFERS: with_buffers} if buffers else {})


@points(1)
def test_count_parameters_tied_and_frozen(learner, rng):
    """count_parameters counts a shared weight once, and only trainable ones with trainable_only"""
    for trainable_only in (False, True):
        sizes = distinct_sizes(rng, 4)
        shared = sizes[0] * sizes[1]  # the tied embedding / head weight
        model_total = sum(p.numel() for p in build_model("tied", sizes).parameters())
        tied = {DOUBLE_COUNTED_TIED: model_total + shared}
        _count(learner, "tied", sizes, trainable_only, wrong=tied)
        _count(learner, "frozen", distinct_sizes(rng, 4), trainable_only, wrong={})
