"""The registry: every kata listed once, with its files, hints and concepts, and consistent
with its check file, its stub and its test variants (in the spirit of `rustlings dev check`).
That every stub scores 0 and every reference full is graded by tests/test_katas.py, once."""

from __future__ import annotations

import ast
import importlib
import importlib.util

import pytest

from grader import catalog, notebooks

KATAS = catalog.katas()


def _misconception_tags(kata: catalog.Kata) -> set[str]:
    """The tags of every Misconception(...) its check file builds, read without importing it."""
    tree = ast.parse(kata.checks_path.read_text(encoding="utf-8"))
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", "") == "Misconception"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }


def test_katas_in_learning_order_each_listed_once():
    assert [k.id for k in KATAS] == [f"ex{n:02d}" for n in range(1, len(KATAS) + 1)]
    assert len(KATAS) == 23
    assert len({k.slug for k in KATAS}) == len(KATAS)


@pytest.mark.parametrize("kata", KATAS, ids=lambda k: k.id)
def test_every_kata_has_its_files_hints_and_concepts(kata):
    for path in (kata.stub_path, kata.solution_path, kata.checks_path):
        assert path.is_file(), path
    assert len(kata.hints) >= 3 and all(hint.strip() for hint in kata.hints), kata.hints
    assert kata.concepts and kata.title and kata.points > 0


@pytest.mark.parametrize(
    ("query", "kata_id"),
    [
        ("ex05", "ex05"),
        ("5", "ex05"),
        ("ex5", "ex05"),
        ("manual_sgd", "ex05"),
        ("EX05_MANUAL_SGD", "ex05"),
        ("20", "ex20"),
    ],
)
def test_find_accepts_every_spelling(query, kata_id):
    assert catalog.find(query).id == kata_id


@pytest.mark.parametrize("query", ["ex24", "0", "sgd", ""])
def test_find_rejects_unknown_names(query):
    with pytest.raises(catalog.UnknownKata):
        catalog.find(query)


@pytest.mark.parametrize("kata", KATAS, ids=lambda k: k.id)
def test_points_are_the_sum_of_the_checks(kata):
    checks = notebooks.checks_of(kata)
    assert checks, f"{kata.checks_path.name} has no checks"
    total = sum(check.points for check in checks)
    assert kata.points == total, (
        f"katas.toml gives {kata.id} {kata.points} points, its checks {total}"
    )


@pytest.mark.parametrize("kata", KATAS, ids=lambda k: k.id)
def test_every_misconception_has_a_wrong_variant(kata):
    tags = _misconception_tags(kata)
    assert tags and all(tag.startswith(f"{kata.id}/") for tag in tags), sorted(tags)
    variants = importlib.import_module(f"tests.variants.{kata.name}")
    wrong, right = getattr(variants, "WRONG", {}), getattr(variants, "RIGHT", {})
    missing = sorted(tags - set(wrong))
    assert not missing, f"no WRONG variant in tests/variants/{kata.filename} for {missing}"
    unknown = sorted(set(wrong) - tags)
    assert not unknown, f"WRONG variants for tags {kata.checks_path.name} never names: {unknown}"
    assert right, f"tests/variants/{kata.filename} has no RIGHT variant"


@pytest.mark.parametrize("kata", KATAS, ids=lambda k: k.id)
def test_every_kata_has_a_sanity_snippet(kata):
    snippet = notebooks.sanity_of(kata)  # LookupError if there is none
    compile(snippet, f"{kata.checks_path.name}: SANITY", "exec")
    assert "assert" in snippet, f"{kata.checks_path.name}'s SANITY snippet checks nothing"


@pytest.mark.parametrize("kata", KATAS, ids=lambda k: k.id)
def test_stub_digest_is_the_registrys(kata):
    text = kata.stub_path.read_text(encoding="utf-8")
    assert catalog.digest(text) == kata.stub_sha256, (
        f"{kata.stub_path.name} changed but katas.toml records the old digest: "
        "run `python -m grader.catalog` to refresh the stubs' digests (or, if you solved the "
        "kata in this checkout, `grade reset` puts the stub back)"
    )


@pytest.mark.parametrize("kata", KATAS, ids=lambda k: k.id)
def test_every_targeted_hint_names_a_misconception_and_a_hint(kata):
    tags = _misconception_tags(kata)
    for tag, number in kata.hint_for:
        assert f"{kata.id}/{tag}" in tags, f"{kata.id}: hint_for names no misconception {tag!r}"
        assert 1 <= number <= len(kata.hints), f"{kata.id}: {tag} points to hint {number}"


@pytest.mark.parametrize("kata", [k for k in KATAS if k.worker_imports], ids=lambda k: k.id)
def test_worker_imports_are_installed_torch_modules(kata):
    for name in kata.worker_imports:
        assert name.split(".")[0] == "torch", f"{kata.id}: the worker preloads only torch's modules"
        assert importlib.util.find_spec(name), f"{kata.id}: worker_imports names no module {name!r}"
