"""Hidden checks for ex17_devices: choosing a device, moving nested batches to it, and moving a
model with its batch.

No GPU is needed: the worker pretends cuda / mps are available, and the "meta"
device (shapes without data) stands in for a second device. Module.to("meta") is a real
move, so the worker moves a model built here and reports where its tensors ended up.
"""

from typing import Any

import torch

from grader.kit import (
    Misconception,
    expect,
    explain,
    fail,
    fmt_shape,
    observed,
    points,
    size,
    type_name,
)
from grader.worker.scenarios.ex17_devices import build_model, describe, describe_model

# the notebook's visible sanity test: torch and the kata's own names only
SANITY = """
import torch
assert isinstance(pick_device(), torch.device), "pick_device should return a torch.device"
batch = {"x": torch.ones(2), "pair": (torch.zeros(3), "a"), "n": 1}
moved = move_to(batch, "meta")  # "meta": a device with shapes but no data, on every machine
assert moved["x"].is_meta and moved["pair"][0].is_meta, "move_to should move nested tensors too"
assert isinstance(moved["pair"], tuple), "move_to should keep a tuple a tuple"
assert moved["pair"][1] == "a" and moved["n"] == 1, "move_to should leave non-tensors as they are"
from torch import nn
net = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))  # running_mean & co. are buffers
same, moved = prepare(net, {"x": torch.ones(4, 2)}, "meta")
assert same is net, "prepare should move the model in place and return that same object"
assert all(p.is_meta for p in net.parameters()), "prepare should move every parameter"
assert all(b.is_meta for b in net.buffers()), "prepare should move the buffers too"
assert moved["x"].is_meta, "prepare should move the batch as move_to does"
"""

STRING_DEVICE = Misconception(
    "ex17/string-device",
    "Return a torch.device, e.g. torch.device('cuda'), not the string 'cuda': a device object "
    "compares with tensor.device, and torch.device('cuda') == 'cuda' is False.",
)
WRONG_PREFERENCE = Misconception(
    "ex17/wrong-preference",
    "Prefer cuda when torch.cuda.is_available(), else mps when "
    "torch.backends.mps.is_available(), else fall back to cpu: ask in that order.",
)
NOT_RECURSIVE = Misconception(
    "ex17/not-recursive",
    "Containers nest: a dict can hold a list that holds a tuple of tensors. Call move_to on "
    "every element of a container (recursion), so tensors at any depth move.",
)
TUPLE_TO_LIST = Misconception(
    "ex17/tuple-to-list",
    "A tuple came back as a list. Rebuild each container as its own kind: "
    "tuple(move_to(v, device) for v in obj) for a tuple, or type(obj)(...) for both.",
)

TO_DISCARDED = Misconception(
    "ex17/to-discarded",
    "These tensors did not move: tensor.to(device) returns a moved copy and leaves the tensor "
    "where it was, so a call whose result is thrown away does nothing. Keep the result "
    "(batch = move_to(batch, device)), and move the model with model.to(device): unlike "
    "Tensor.to, Module.to works in place, on every parameter and buffer, and returns the same "
    "module.",
)
BUFFERS_LEFT = Misconception(
    "ex17/buffers-left",
    "The parameters moved, but the buffers stayed behind. Buffers are the tensors a model uses "
    "without training them (batch norm's running_mean, running_var and num_batches_tracked): "
    "model.parameters() does not list them, model.buffers() does. model.to(device) moves "
    "parameters and buffers together.",
)
DATA_ASSIGNED = Misconception(
    "ex17/data-assigned",
    "`tensor.data = tensor.data.to(device)` swaps the data under a parameter behind autograd's "
    "back, and torch allows that only between compatible kinds of tensor: a CPU parameter cannot "
    "take data on 'meta', the device these checks move to. model.to(device) moves every "
    "parameter and buffer, in place, to any device.",
)
DATA_ASSIGNED_ERROR = r"incompatible tensor type"


def _batch(rng: torch.Generator) -> dict[str, Any]:
    """A nested batch like a data loader's: tensors at several depths, and other values."""
    b, d = size(rng), size(rng)

    def t(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=rng)

    return {
        "x": t(b, d),
        "y": torch.randint(0, 5, (b,), generator=rng),
        "meta": {"ids": torch.arange(b), "name": f"batch-{b}", "lengths": [b, d, None]},
        "pair": (t(d), [t(d, 2), (t(2), "tag")]),
        "step": size(rng),
    }


def _mismatch(got: Any, want: Any, path: str = "result") -> str | None:
    """Where describe()d structures first differ, in words; None when they agree."""
    if got == want:
        return None
    if observed(got, list)[:1] != want[:1]:
        return f"{path} should be a {want[0]}, got {got[0] if got else 'nothing'}"
    observed(got, list, length=len(want))  # a node of the same kind has the same parts
    if want[0] == "tensor":
        return f"{path} should be a tensor on {want[1]}, got one on {got[1]}"
    if want[0] == "value":
        return f"{path} should be left as {want[2]}, got {got[2]}"
    if len(observed(got[1], list)) != len(want[1]):
        return f"{path} should have {len(want[1])} entries, got {len(got[1])}"
    for index, (g, w) in enumerate(zip(got[1], want[1], strict=True)):
        if want[0] == "dict":  # [key, value] pairs
            key, g, w = w[0], observed(g, list, length=2)[1], w[1]
        else:
            key = str(index)
        found = _mismatch(g, w, f"{path}[{key}]")
        if found:
            return found
    return f"{path} differs"


def _expect_structure(got: Any, want: Any, what: str) -> None:
    problem = _mismatch(got, want)
    if problem is None:
        return
    diagnosis = None
    if problem.endswith("should be a tuple, got list"):
        diagnosis = TUPLE_TO_LIST
    elif problem.endswith("should be a tensor on meta, got one on cpu"):
        diagnosis = NOT_RECURSIVE
    fail(f"{what}: {problem}", diagnosis)


@points(1)
def test_pick_device_returns_a_device(learner):
    """pick_device returns a torch.device, cpu when no GPU is there"""
    (got,) = observed(learner.scenario("picks", [(False, False)]), list, length=1)
    if isinstance(got, str):
        fail(f"pick_device() returned the string {got!r}", STRING_DEVICE)
    expect(
        type(got) is torch.device,
        f"pick_device() should return a torch.device, got {type_name(got)}",
    )
    expect(
        got == torch.device("cpu"),
        f"with no GPU, pick_device() should give cpu, got {got}",
        WRONG_PREFERENCE,
    )


@points(1)
def test_pick_device_prefers_cuda_then_mps(learner):
    """pick_device prefers cuda, then mps, then cpu"""
    cases = [(True, True), (True, False), (False, True), (False, False)]
    answers = observed(learner.scenario("picks", cases), list, length=len(cases))
    for (cuda, mps), got in zip(cases, answers, strict=True):
        want = torch.device("cuda" if cuda else "mps" if mps else "cpu")
        where = (
            f"with cuda {'available' if cuda else 'absent'}, mps {'available' if mps else 'absent'}"
        )
        if isinstance(got, str):
            fail(f"pick_device() {where} returned the string {got!r}", STRING_DEVICE)
        expect(
            got == want, f"pick_device() {where} should give {want}, got {got}", WRONG_PREFERENCE
        )


@points(2)
def test_move_to_moves_every_tensor(learner, rng):
    """move_to moves every tensor of a nested batch, at any depth"""
    batch = _batch(rng)
    want = describe(_move(batch, "meta"))
    for device in ("meta", torch.device("meta")):
        got = learner.scenario("moved", batch, device)
        _expect_structure(got, want, f"move_to(batch, {device!r})")


@points(2)
def test_move_to_keeps_containers_and_values(learner, rng):
    """move_to keeps tuples, lists, dicts and plain values as they are"""
    batch = _batch(rng)
    got = learner.move_to(batch, "cpu")
    _expect_structure(describe(got), describe(batch), "move_to(batch, 'cpu')")
    for (name, value), (_, moved) in zip(_leaves(batch), _leaves(got), strict=True):
        expect(
            type(value) is not torch.Tensor or torch.equal(value, moved),
            f"move_to(batch, 'cpu') changed the values of {name}",
        )


@points(1)
def test_move_to_on_a_lone_tensor_or_value(learner, rng):
    """move_to works on a bare tensor and leaves a bare value alone"""
    tensor = torch.randn(size(rng), generator=rng)
    got = learner.scenario("moved", tensor, "meta")
    _expect_structure(got, describe(tensor.to("meta")), "move_to(tensor, 'meta')")
    for value in (size(rng), "text", None):
        got = learner.scenario("moved", value, "meta")
        _expect_structure(got, describe(value), f"move_to({value!r}, 'meta')")


# ---------------------------------------------------------------- prepare


def _sizes(rng: torch.Generator) -> list[int]:
    return [size(rng, 2, 8), size(rng, 3, 12), size(rng, 2, 6)]  # in, hidden, classes


def _prepared(learner, sizes: list[int], batch: Any, device: Any) -> tuple[dict[str, Any], str]:
    """The scenario's report on prepare(model, batch, device), checked to be a (model, batch)
    pair that gives back the very model it was handed."""
    what = f"prepare(model, batch, {device!r})"
    with explain(DATA_ASSIGNED, when=DATA_ASSIGNED_ERROR):
        seen = learner.scenario("prepared", sizes, batch, device)
    seen = observed(seen, dict, "returned", "pair", "same_model", "model", "batch")
    expect(seen["pair"], f"{what} should return a (model, batch) tuple, got {seen['returned']}")
    expect(
        seen["same_model"],
        f"{what} returned another module than the one it was given: move the model in place "
        "(model.to(device) does) and return that same object",
    )
    return seen, what


def _shown(entry: list[Any]) -> str:
    kind, device, shape, dtype = entry
    return f"a {kind} of shape {fmt_shape(shape)} and {dtype} on {device}"


def _expect_moved(
    got: dict[str, list],
    want: dict[str, list],
    kind: str,
    what: str,
    stayed: Misconception | None,
) -> None:
    """got, want: describe_model's entries of one kind ("parameters" or "buffers") by name, got
    after the learner's prepare, want after Module.to("meta"); `stayed` is the diagnosis when
    some are left on the cpu."""
    left = sorted(name for name, entry in got.items() if entry[1] != "meta")
    if left:
        fail(f"{what} left {kind} on the {got[left[0]][1]}: {', '.join(left)}", stayed)
    plain = sorted(name for name, entry in got.items() if entry[0] != want.get(name, entry)[0])
    expect(not plain, f"{what} turned {kind} into plain tensors: {', '.join(plain)}")
    expect(
        got.keys() == want.keys(),
        f"{what} changed the model's {kind}: {', '.join(got)} instead of {', '.join(want)}",
    )
    for name, entry in want.items():
        expect(
            got[name] == entry, f"{what}: {name} should be {_shown(entry)}, got {_shown(got[name])}"
        )


def _model(seen: dict[str, Any]) -> dict[str, dict[str, list]]:
    """The model as prepare left it: describe_model's entries by kind and name."""
    model = observed(seen["model"], dict, "parameters", "buffers")
    for kind in ("parameters", "buffers"):
        for entry in observed(model[kind], dict).values():
            observed(entry, list, length=4)  # [type, device, shape, dtype]
    return model


@points(1)
def test_prepare_moves_the_model_in_place(learner, rng):
    """prepare moves every parameter of the model, in place, and returns that same model"""
    sizes, batch = _sizes(rng), _batch(rng)
    want = describe_model(build_model(sizes).to("meta"))["parameters"]
    for device in ("meta", torch.device("meta")):
        seen, what = _prepared(learner, sizes, batch, device)
        got = _model(seen)["parameters"]
        none_moved = all(entry[1] != "meta" for entry in got.values())
        _expect_moved(got, want, "parameters", what, TO_DISCARDED if none_moved else None)


@points(1)
def test_prepare_moves_the_buffers(learner, rng):
    """prepare moves the model's buffers (batch norm's running statistics) too"""
    sizes, batch = _sizes(rng), _batch(rng)
    want = describe_model(build_model(sizes).to("meta"))["buffers"]
    seen, what = _prepared(learner, sizes, batch, "meta")
    model = _model(seen)
    on_meta = {kind: [e[1] == "meta" for e in model[kind].values()] for kind in model}
    stayed = None  # some parameters moved and some not: no single mistake to name
    if all(on_meta["parameters"]):
        stayed = BUFFERS_LEFT
    elif not any(on_meta["parameters"] + on_meta["buffers"]):
        stayed = TO_DISCARDED
    _expect_moved(model["buffers"], want, "buffers", what, stayed)


@points(1)
def test_prepare_moves_the_batch(learner, rng):
    """prepare moves every tensor of the batch, as move_to does"""
    sizes, batch = _sizes(rng), _batch(rng)
    seen, what = _prepared(learner, sizes, batch, "meta")
    if seen["batch"] == describe(batch):
        fail(f"{what} gave the batch back with every tensor still on the cpu", TO_DISCARDED)
    _expect_structure(seen["batch"], describe(_move(batch, "meta")), f"the batch from {what}")


def _move(obj: Any, device: str) -> Any:
    """The judge's own move, to know what to expect."""
    if type(obj) is torch.Tensor:
        return obj.to(device)
    if type(obj) is dict:
        return {k: _move(v, device) for k, v in obj.items()}
    if type(obj) in (list, tuple):
        return type(obj)(_move(v, device) for v in obj)
    return obj


def _leaves(obj: Any, path: str = "batch") -> list[tuple[str, Any]]:
    if type(obj) is dict:
        return [leaf for k, v in obj.items() for leaf in _leaves(v, f"{path}[{k!r}]")]
    if type(obj) in (list, tuple):
        return [leaf for i, v in enumerate(obj) for leaf in _leaves(v, f"{path}[{i}]")]
    return [(path, obj)]
