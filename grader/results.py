"""The result of grading one kata, and its Gradescope-shaped JSON form."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any


def fingerprint(text: str) -> str:
    """Identifies the exact text that was graded."""
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class CheckResult:
    name: str
    max_score: float
    score: float = 0.0
    output: str = ""  # what went wrong, in the learner's terms
    explanation: str = ""  # the misconception's, when one was named (shown once a run)
    tags: list[str] = field(default_factory=list)
    check: str = ""  # the check's function name in grader/checks/<kata>.py
    not_run: bool = False  # the file's problem (Result.problem) stopped it

    @property
    def passed(self) -> bool:
        return self.score >= self.max_score


@dataclass
class Result:
    kata: str  # e.g. "ex05_manual_sgd"
    file: str
    seed: int
    sandbox: str
    checks: list[CheckResult] = field(default_factory=list)
    execution_time: float = 0.0
    problem: str = ""  # why the file could not be graded at all, if so
    fingerprint: str = ""  # of the text that was graded
    note: str = ""  # how the code was taken from the file, when it says something

    def texts(self) -> list[str]:
        """What each check says, as every writer shows it: a file's problem once (at the top,
        in summary()), each misconception's explanation once, at its first check."""
        first: dict[str, str] = {}  # a misconception's tag -> the check that explained it
        said: dict[str, str] = {}  # a message -> the first check that said it
        texts = []
        for check in self.checks:
            if check.passed:
                texts.append("")
                continue
            if check.not_run:
                texts.append("not run: the problem with your file comes first (see above)")
                continue
            text = check.output
            if text in said:
                texts.append(f'the same as for "{said[text]}" above')
                continue
            said[text] = check.name
            if check.explanation:
                tag = check.tags[0] if check.tags else check.explanation
                if tag in first:
                    text += f'\n(the same mistake as in "{first[tag]}": see there)'
                else:
                    first[tag] = check.name
                    text += f"\n{check.explanation}"
            texts.append(text)
        return texts

    @property
    def score(self) -> float:
        return sum(c.score for c in self.checks)

    @property
    def max_score(self) -> float:
        return sum(c.max_score for c in self.checks)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def summary(self) -> str:
        done = sum(c.passed for c in self.checks)
        line = (
            f"{self.kata}: {self.score:g}/{self.max_score:g} points, "
            f"{done}/{len(self.checks)} checks passed (seed {self.seed})"
        )
        return "\n".join(part for part in (line, self.problem, self.note) if part)

    def to_gradescope(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "max_score": self.max_score,
            "execution_time": round(self.execution_time, 3),
            "output": self.summary(),
            "tests": [
                {
                    "name": c.name,
                    "score": c.score,
                    "max_score": c.max_score,
                    "status": "passed" if c.passed else "failed",
                    "output": text,
                    "tags": c.tags,
                }
                for c, text in zip(self.checks, self.texts(), strict=True)
            ],
            "extra_data": {
                "kata": self.kata,
                "file": self.file,
                "seed": self.seed,
                "sandbox": self.sandbox,
            },
        }
