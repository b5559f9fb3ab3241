"""The kata registry (grader/katas.toml) and where each kata's files live.

Stubs and references ship inside the installed package (grader/stubs/, grader/references/,
copied from the repository's exercises/ and solutions/ when the wheel is built). In a source
checkout they are the repository's own exercises/ and solutions/, and the checkout's
exercises/ is also a learner's workspace: there a stub counts as pristine only if its text
has the digest the registry records (a copy of each pristine stub seen is kept in .grade/, so
`grade reset` works after the learner has edited the file). Neither the working tree nor git
history is ever taken for the stub on trust.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PACKAGE_DIR = Path(__file__).resolve().parent
CHECKS_DIR = PACKAGE_DIR / "checks"
REGISTRY = PACKAGE_DIR / "katas.toml"
# a source checkout: the package's parent holds the repository's own exercises/ and solutions/
SOURCE_CHECKOUT = PACKAGE_DIR.parent if (PACKAGE_DIR.parent / "exercises").is_dir() else None
INSTALLED = (PACKAGE_DIR / "stubs").is_dir()  # a built package carries its own copies
STUBS_DIR = (
    PACKAGE_DIR / "stubs" if INSTALLED or SOURCE_CHECKOUT is None else SOURCE_CHECKOUT / "exercises"
)
REFERENCES_DIR = (
    PACKAGE_DIR / "references"
    if INSTALLED or SOURCE_CHECKOUT is None
    else SOURCE_CHECKOUT / "solutions"
)


class UnknownKata(LookupError):
    """No kata matches what the user typed."""


class NoStub(LookupError):
    """The pristine stub cannot be found (the checkout's copy was edited, none was kept)."""


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Kata:
    id: str
    slug: str
    title: str
    points: float
    hints: tuple[str, ...]
    concepts: tuple[str, ...]
    stub_sha256: str = ""  # the pristine stub's digest, recorded in the registry
    hint_for: tuple[tuple[str, int], ...] = ()  # (misconception tag, the hint number about it)
    worker_imports: tuple[str, ...] = ()  # what the worker imports once, before forking runs

    def hint_about(self, tag: str) -> int | None:
        """The number (1-based) of the hint that speaks to this misconception, if one does."""
        return dict(self.hint_for).get(tag.removeprefix(f"{self.id}/"))

    @property
    def name(self) -> str:
        return f"{self.id}_{self.slug}"

    @property
    def number(self) -> int:
        return int(self.id.removeprefix("ex"))

    @property
    def filename(self) -> str:
        return f"{self.name}.py"

    @property
    def stub_path(self) -> Path:
        """The package's stub (in a source checkout: the repository's exercises/ file, which
        a learner may have edited: read it through stub_text)."""
        return STUBS_DIR / self.filename

    @property
    def solution_path(self) -> Path:
        return REFERENCES_DIR / self.filename

    def stub_text(self) -> str:
        """The pristine stub: the package's copy, checked against the registry's digest."""
        try:
            text = self.stub_path.read_text(encoding="utf-8")
        except OSError:
            text = ""
        if digest(text) == self.stub_sha256:
            _keep(self, text)
            return text
        kept = _kept(self)
        if kept is not None:
            return kept
        raise NoStub(
            f"the pristine stub of {self.id} is not here: {self.stub_path} was changed and no "
            "copy of the original was kept (reinstall the package, or take it from the project)"
        )

    @property
    def checks_path(self) -> Path:
        return CHECKS_DIR / f"{self.name}.py"


def worker_imports(katas: Iterable[Kata]) -> tuple[str, ...]:
    """What the worker should import up front to grade these katas."""
    return tuple(sorted({name for kata in katas for name in kata.worker_imports}))


def _kept_path(kata: Kata) -> Path | None:
    if SOURCE_CHECKOUT is None:
        return None
    return SOURCE_CHECKOUT / ".grade" / "pristine" / f"{kata.name}.{kata.stub_sha256[:16]}.py"


def _keep(kata: Kata, text: str) -> None:
    """In a source checkout, a copy of a pristine stub seen, for when the file is edited."""
    path = _kept_path(kata)
    if path is not None and not path.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError:
            pass  # a read-only checkout keeps nothing: reset then needs the original file


def _kept(kata: Kata) -> str | None:
    path = _kept_path(kata)
    try:
        text = path.read_text(encoding="utf-8") if path else None
    except OSError:
        return None
    return text if text is not None and digest(text) == kata.stub_sha256 else None


def keep_pristine_stubs() -> int:
    """Keep a copy of every pristine stub the checkout still has (set-up does this once)."""
    kept = 0
    for kata in katas():
        try:
            kata.stub_text()
            kept += 1
        except NoStub:
            pass
    return kept


@cache
def katas() -> tuple[Kata, ...]:
    with open(REGISTRY, "rb") as f:
        entries = tomllib.load(f)["kata"]
    return tuple(
        Kata(
            id=e["id"],
            slug=e["slug"],
            title=e["title"],
            points=float(e["points"]),
            hints=tuple(e["hints"]),
            concepts=tuple(e["concepts"]),
            stub_sha256=e.get("stub_sha256", ""),
            hint_for=tuple(e.get("hint_for", {}).items()),
            worker_imports=tuple(e.get("worker_imports", ())),
        )
        for e in entries
    )


def find(query: str) -> Kata:
    """Resolve 'ex05', 'ex5', '5', 'manual_sgd' or 'ex05_manual_sgd' to a kata."""
    text = query.strip().lower().removesuffix(".py")
    number = re.fullmatch(r"(?:ex)?0*(\d+)", text)
    for kata in katas():
        if (number and kata.number == int(number.group(1))) or text in (kata.slug, kata.name):
            return kata
    known = ", ".join(k.id for k in katas())
    raise UnknownKata(f"unknown exercise {query!r} (known: {known})")


def select(spec: str | None) -> list[Kata]:
    """'ex01-ex05', 'ex01,ex03,ex07', '3' or None (all) -> the katas, in learning order."""
    if not spec:
        return list(katas())
    chosen: list[Kata] = []
    for part in spec.split(","):
        ends = [find(end) for end in part.split("-", 1)] if part.strip() else []
        if not ends:
            continue
        low, high = ends[0].number, ends[-1].number
        if low > high:
            raise UnknownKata(f"empty range {part!r}: write the lower kata first")
        chosen += [k for k in katas() if low <= k.number <= high and k not in chosen]
    if not chosen:
        raise UnknownKata(f"no katas in {spec!r}")
    return sorted(chosen, key=lambda k: k.number)


def refresh_digests() -> list[str]:
    """Write each stub's digest into the registry (for whoever changes a stub in the
    repository: `python -m grader.catalog`); the katas whose digest changed."""
    new = {k.id: digest(k.stub_path.read_text(encoding="utf-8")) for k in katas()}
    changed = [k.id for k in katas() if new[k.id] != k.stub_sha256]
    lines, current = [], ""
    for line in REGISTRY.read_text(encoding="utf-8").splitlines(keepends=True):
        if line.startswith("id = "):
            current = line.split('"')[1]
        if line.startswith("stub_sha256 = "):
            line = f'stub_sha256 = "{new[current]}"\n'
        lines.append(line)
    REGISTRY.write_text("".join(lines), encoding="utf-8")
    katas.cache_clear()
    return changed


if __name__ == "__main__":
    print("digests refreshed:", ", ".join(refresh_digests()) or "none changed")
