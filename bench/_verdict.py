"""A benchmark's figure against its target: printed where it is measured, and gathered by
bench/run.py into the one table `make bench` ends with."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    what: str  # the figure's name, e.g. "billing run / COPY"
    figure: str  # as measured, e.g. "1.8x"
    target: str  # e.g. "<= 3x"
    passed: bool
    line: str  # the bench's own line about it

    def __str__(self) -> str:
        return self.line


def table(rows: list[tuple[str, Verdict]]) -> list[str]:
    """The summary: each benchmark's figures, their targets, pass or not."""
    head = ("benchmark", "figure", "measured", "target", "result")
    cells = [(bench, v.what, v.figure, v.target, "pass" if v.passed else "FAIL") for bench, v in rows]
    widths = [max(len(str(row[i])) for row in [head, *cells]) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [head, *cells]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    passed = sum(v.passed for _, v in rows)
    lines.append(f"{passed} of {len(rows)} targets met")
    return lines
