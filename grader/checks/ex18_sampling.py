"""Hidden checks for ex18_sampling: top-k filtering, greedy decoding, reproducible draws, and
sample frequencies that match softmax(logits / temperature).

The scenarios (scenarios/ex18_sampling.py) run many calls per job and build the generators from
seeds sent by the judge. The judge filters with torch.topk itself, and tests the learner's counts
against the exact probabilities with a 6-sigma bound per token: a correct sampler fails it with
probability about 1e-8 per run, while the bugs below miss by far more than that."""

import re
from typing import Any

import torch

from grader.kit import (
    LearnerRaised,
    Misconception,
    case_value,
    diagnose,
    distinct_sizes,
    expect,
    expect_tensor,
    fail,
    fmt_shape,
    observed,
    points,
    random_seed,
    size,
    type_name,
    uniform,
)

# the notebook's visible sanity test: torch and the kata's own names only
SANITY = """
import torch
logits = torch.tensor([[1.0, 3.0, 2.0, 0.5], [0.0, -1.0, 4.0, 2.0]])
inf = torch.inf
expected = torch.tensor([[-inf, 3.0, 2.0, -inf], [-inf, -inf, 4.0, 2.0]])
assert torch.equal(top_k_filter(logits, 2), expected), "top_k_filter(logits, 2): the 2 largest stay"
greedy = sample_next(logits, temperature=0)
assert torch.equal(greedy, torch.tensor([1, 2])), "temperature 0: pick each row's largest logit"
uniform = torch.zeros(50, 10)  # 50 rows, 10 equally likely tokens
draws = [sample_next(uniform, generator=torch.Generator().manual_seed(0)) for _ in range(2)]
assert torch.equal(draws[0], draws[1]), "the same generator seed should give the same tokens"
"""

TEMPERATURE_MULTIPLIED = Misconception(
    "ex18/temperature-multiplied",
    "The logits are divided by the temperature, softmax(logits / temperature), not multiplied: "
    "a temperature below 1 makes the distribution sharper (closer to argmax), above 1 flatter. "
    "Multiplying does the opposite of what the caller asked for.",
)
K_OFF_BY_ONE = Misconception(
    "ex18/k-off-by-one",
    "top-k should keep exactly the tokens whose logit is >= the k-th largest of its row. "
    "torch.topk(logits, k).values[..., -1:] is that k-th largest (index k - 1, kept as a (..., 1) "
    "column); index k of a sorted row is the (k+1)-th, and a strict > drops the k-th itself.",
)
GENERATOR_IGNORED = Misconception(
    "ex18/generator-ignored",
    "Two calls with generators seeded alike should draw the same tokens. Pass the generator on "
    "to the random call, torch.multinomial(probs, 1, generator=generator); without it, torch "
    "draws from its global RNG, which has moved on between the calls.",
)

SAMPLES_PER_ROW = 20_000
SIGMAS = 6  # per token: a correct sampler lands outside with probability ~2e-9


def _top_k(logits: torch.Tensor, k: int) -> torch.Tensor:
    """The answer: the logits >= each row's k-th largest stay, the rest become -inf."""
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1)
    return torch.where(logits >= kth, logits, float("-inf"))


def _off_by_one(logits: torch.Tensor, k: int) -> tuple[torch.Tensor, ...]:
    """What keeping one token too many or too few gives (a strict > keeps k - 1 as well)."""
    width = logits.shape[-1]
    answers = [_top_k(logits, j) for j in (k - 1, k + 1) if 1 <= j <= width]
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return (*answers, torch.where(logits > kth, logits, float("-inf")))


# ---- top_k_filter ----


def _expect_kept(got: torch.Tensor, want: torch.Tensor, k: int, what: str, wrong: dict) -> None:
    """As many finite logits per row as the answer keeps, in words when not."""
    got_kept = torch.isfinite(got).sum(-1).flatten()  # (rows,)
    want_kept = torch.isfinite(want).sum(-1).flatten()
    if torch.equal(got_kept, want_kept):
        return
    if (got_kept == k).all():
        fail(
            f"{what} kept exactly {k} logits in every row, but logits tied with the k-th "
            "largest should stay too: keep every logit >= the k-th largest value, rather than "
            "the k positions that torch.topk returns"
        )
    row = int(torch.nonzero(got_kept != want_kept)[0])
    fail(
        f"{what} kept {int(got_kept[row])} logits in row {row} (counting rows of all leading "
        f"dims in order), where {int(want_kept[row])} should stay: the {k} largest, and any tied "
        "with the k-th largest",
        diagnose(got, wrong),
    )


def _check_filters(learner, cases: list[tuple[torch.Tensor, int]], ties: bool) -> None:
    reports = observed(learner.scenario("filters", cases), list, length=len(cases))
    for report, (logits, k) in zip(reports, cases, strict=True):
        kind = "integer-valued " if ties else ""
        what = f"top_k_filter(logits, k={k}) for {kind}logits of shape {fmt_shape(logits.shape)}"
        width = logits.shape[-1]
        # keeping k + 1 by index runs off the end of a row when k == V
        off_the_end = re.compile(r"out of (range|bounds)") if k == width else None
        try:
            got = case_value(report, what)
        except LearnerRaised as exc:
            if off_the_end and off_the_end.search(exc.error_message):
                fail(exc.message, K_OFF_BY_ONE)
            raise
        want = _top_k(logits, k)
        wrong = {K_OFF_BY_ONE: _off_by_one(logits, k)}
        if type(got) is torch.Tensor and got.shape == want.shape:
            _expect_kept(got, want, k, what, wrong)
        expect_tensor(got, want, what, wrong=wrong)
        expect(
            observed(report.get("unchanged"), bool),
            f"{what} changed the logits passed in: the caller may still need them. Build a new "
            "tensor (masked_fill, torch.where) instead of writing into logits",
        )


@points(2)
def test_top_k_filter_keeps_k_largest(learner, rng):
    """top_k_filter keeps the k largest logits of each row and sets the rest to -inf"""
    rows, width, batch = distinct_sizes(rng, 3, 2, 12)
    width = max(width, 3)  # room for 1 < k < V
    shapes = [(rows, width), (batch, rows, width), (width, width), (width,)]
    cases = []
    for shape in shapes:
        k = size(rng, 2, shape[-1] - 1)
        cases.append((torch.randn(shape, generator=rng) * 3, k))
    _check_filters(learner, cases, ties=False)


def _tie_at_kth(logits: torch.Tensor, k: int) -> torch.Tensor:
    """The same logits with the (k+1)-th largest of every row raised to equal the k-th."""
    ranked = logits.sort(dim=-1, descending=True)
    tied = ranked.values.clone()
    tied[..., k] = tied[..., k - 1]
    return logits.scatter(-1, ranked.indices, tied)


@points(2)
def test_top_k_filter_ties_and_edges(learner, rng):
    """top_k_filter keeps ties with the k-th largest, and handles k = 1 and k = V"""
    rows, width = distinct_sizes(rng, 2, 6, 12)
    cases = []
    for k in (1, width, size(rng, 2, width - 2)):
        logits = torch.randint(-4, 5, (rows, width), generator=rng).float()
        cases.append((_tie_at_kth(logits, k) if k < width else logits, k))
    mid = size(rng, 2, width - 2)
    logits = torch.randint(-3, 4, (size(rng, 2, 4), rows, width), generator=rng).float()
    cases.append((_tie_at_kth(logits, mid), mid))
    _check_filters(learner, cases, ties=True)


# ---- sample_next ----


def _draw(
    logits: torch.Tensor, temperature: float, top_k: int | None, seed: int | None, repeat: int = 1
) -> dict:
    """One case of the draws scenario: sample_next on logits tiled `repeat` times."""
    return {
        "logits": logits,
        "temperature": temperature,
        "top_k": top_k,
        "seed": seed,
        "repeat": repeat,
    }


def _call(case: dict) -> str:
    shape = fmt_shape((case["repeat"] * case["logits"].shape[0], case["logits"].shape[1]))
    seed = case["seed"]
    generator = "None" if seed is None else f"torch.Generator().manual_seed({seed})"
    return (
        f"sample_next(logits of shape {shape}, temperature={case['temperature']:.3g}, "
        f"top_k={case['top_k']}, generator={generator})"
    )


def _expect_tokens(got: Any, rows: int, width: int, what: str) -> torch.Tensor:
    """One int64 token id in [0, width) per row."""
    expect(type(got) is torch.Tensor, f"{what} should return a torch.Tensor, got {type_name(got)}")
    expect(
        got.shape == (rows,),
        f"{what} should return shape ({rows},), one token per row, got {fmt_shape(got.shape)}"
        + (": squeeze the last dim of multinomial's (B, 1)" if got.shape == (rows, 1) else ""),
    )
    expect(got.dtype == torch.int64, f"{what} should return int64 token ids, got {got.dtype}")
    expect(
        bool(((got >= 0) & (got < width)).all()),
        f"{what} returned token ids outside 0..{width - 1}: {got.tolist()[:20]}",
    )
    return got


@points(1)
def test_temperature_zero_is_argmax(learner, rng):
    """sample_next with temperature 0 returns each row's argmax"""
    rows, width = distinct_sizes(rng, 2, 3, 12)
    seed = random_seed(rng)
    cases = [
        _draw(torch.randn(rows, width, generator=rng), 0.0, None, None),
        _draw(torch.randn(width, width, generator=rng), 0.0, size(rng, 2, width), seed),
    ]
    reports = observed(learner.scenario("draws", cases), list, length=len(cases))
    for report, case in zip(reports, cases, strict=True):
        what = _call(case)
        try:
            got = case_value(report, what)
        except LearnerRaised as exc:
            if re.search(r"inf|nan|division", exc.error_message):
                fail(
                    f"{exc.message}\nTemperature 0 means greedy decoding: return each row's "
                    "argmax before anything divides by the temperature (logits / 0 is inf or nan)."
                )
            raise
        logits = case["logits"]
        got = _expect_tokens(got, *logits.shape, what)
        expect_tensor(got, logits.argmax(-1), f"{what} (each row's argmax)")


@points(2)
def test_same_seed_same_samples(learner, rng):
    """sample_next draws the same tokens from generators with the same seed"""
    rows, width = size(rng, 24, 40), size(rng, 5, 10)
    logits = torch.randn(rows, width, generator=rng) * 0.7  # flat enough that draws vary
    temperature = uniform(rng, 0.7, 1.5)
    top_k = [None, size(rng, 3, width)][int(torch.randint(2, (), generator=rng))]
    seed, other = (int(s) for s in torch.randperm(2**16, generator=rng)[:2])
    cases = [_draw(logits, temperature, top_k, s) for s in (seed, seed, other)]
    reports = observed(learner.scenario("draws", cases), list, length=len(cases))
    tokens = [
        _expect_tokens(case_value(report, _call(case)), rows, width, _call(case))
        for report, case in zip(reports, cases, strict=True)
    ]
    expect(
        torch.equal(tokens[0], tokens[1]),
        f"{_call(cases[0])} twice, each time with a fresh generator, drew different tokens: "
        f"{tokens[0].tolist()[:12]}... and {tokens[1].tolist()[:12]}...",
        GENERATOR_IGNORED,
    )
    expect(
        not torch.equal(tokens[0], tokens[2]),
        f"generators seeded {seed} and {other} drew the very same {rows} tokens: the generator "
        "passed in should drive the draws",
    )


def _probabilities(
    logits: torch.Tensor, temperature: float, top_k: int | None, multiply: bool = False
) -> torch.Tensor:
    """(R, V) float64 probabilities of each token; multiply=True gives the slip's."""
    logits = logits.double()
    if top_k is not None:
        logits = _top_k(logits, top_k)
    scaled = logits * temperature if multiply else logits / temperature
    return torch.softmax(scaled, dim=-1)


def _misfit(counts: torch.Tensor, probs: torch.Tensor, draws: int) -> str | None:
    """Where counts (V,) from `draws` samples stray from probs (V,): None when they all fit."""
    for token in torch.nonzero((probs == 0) & (counts > 0)).flatten().tolist():
        return f"token {token} was drawn {int(counts[token])} times, but its probability is 0"
    expected = draws * probs
    sigma = (expected * (1 - probs)).sqrt()
    excess = (counts - expected).abs() / (SIGMAS * sigma + 3)  # + 3: slack for rare tokens
    token = int(excess.argmax())
    if excess[token] <= 1:
        return None
    return (
        f"token {token} was drawn {int(counts[token])} times out of {draws}, expected about "
        f"{float(expected[token]):.0f} (probability {float(probs[token]):.4f}); that is more "
        f"than {SIGMAS} standard deviations ({float(sigma[token]):.1f}) away"
    )


def _row_misfit(counts: torch.Tensor, probs: torch.Tensor) -> str | None:
    """The first row of the (R, V) counts that strays from its probabilities, in words."""
    for row, (row_counts, row_probs) in enumerate(zip(counts, probs, strict=True)):
        found = _misfit(row_counts, row_probs, SAMPLES_PER_ROW)
        if found:
            return f"for copies of row {row}, {found}"
    return None


def _slips(logits: torch.Tensor, temperature: float, top_k: int | None) -> list:
    """(misconception, the probabilities it samples from) for the slips that apply here."""
    slips = []
    if temperature != 1:
        slips.append((TEMPERATURE_MULTIPLIED, _probabilities(logits, temperature, top_k, True)))
    if top_k is not None:
        for k in (top_k - 1, top_k + 1):
            slips.append((K_OFF_BY_ONE, _probabilities(logits, temperature, k)))
    return slips


def _spread_logits(rng: torch.Generator, rows: int, width: int, temperature: float):
    """(rows, width) logits whose scaled values logits / temperature span exactly [-1.5, 1.5]:
    every token has a sizeable probability, and a wrong temperature shows plainly."""
    scaled = (torch.rand(rows, width, generator=rng) * 2 - 1) * 1.5
    for row in range(rows):
        low, high = torch.randperm(width, generator=rng)[:2].tolist()
        scaled[row, low], scaled[row, high] = -1.5, 1.5
    return scaled * temperature


def _far_from_one(rng: torch.Generator) -> float:
    """A temperature in [0.4, 0.6] or [1.7, 2.5]: dividing and multiplying by it differ a lot."""
    u = float(torch.rand((), generator=rng))
    return 0.4 + 0.2 * u if torch.rand((), generator=rng) < 0.5 else 1.7 + 0.8 * u


@points(3)
def test_sample_frequencies(learner, rng):
    """sample_next draws tokens as often as softmax(logits / temperature) says, top-k applied"""
    cases = []
    for temperature, use_top_k in [(_far_from_one(rng), False), (1.0, True), (None, True)]:
        temperature = temperature or _far_from_one(rng)
        width = size(rng, 5, 8)
        logits = _spread_logits(rng, size(rng, 1, 2), width, temperature)
        top_k = size(rng, 2, width - 1) if use_top_k else None
        cases.append(_draw(logits, temperature, top_k, random_seed(rng)))
        cases[-1]["repeat"] = SAMPLES_PER_ROW
    reports = observed(learner.scenario("draws", cases), list, length=len(cases))
    for report, case in zip(reports, cases, strict=True):
        logits, temperature, top_k = case["logits"], case["temperature"], case["top_k"]
        rows, width = logits.shape
        what = _call(case)
        got = _expect_tokens(case_value(report, what), SAMPLES_PER_ROW * rows, width, what)
        per_row = got.view(SAMPLES_PER_ROW, rows).T  # (R, n): row i of the tiling is row i % R
        counts = torch.stack([row.bincount(minlength=width) for row in per_row]).double()
        problem = _row_misfit(counts, _probabilities(logits, temperature, top_k))
        if problem is None:
            continue
        slip = next(
            (
                m
                for m, probs in _slips(logits, temperature, top_k)
                if not _row_misfit(counts, probs)
            ),
            None,
        )
        fail(
            f"{what}, with each of the {rows} rows of logits repeated {SAMPLES_PER_ROW} times: "
            f"{problem}",
            slip,
        )
