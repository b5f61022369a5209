"""The one error type of the corrections import, and how many problems it shows."""

from __future__ import annotations

from collections.abc import Sequence

SHOWN = 50  # problems listed in one message; the rest are counted


class CorrectionsError(ValueError):
    """Something in the corrected files (or the corrections folder) a person must fix.

    `problems` holds every problem found, one line each, naming the file and the line,
    row or task; the message lists the first SHOWN of them.
    """

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems) or [message]


def raise_if_any(problems: Sequence[str]) -> None:
    """One error listing every problem, so a person fixes them all in one pass."""
    if not problems:
        return
    shown = "\n".join(f"  - {p}" for p in problems[:SHOWN])
    more = len(problems) - SHOWN
    tail = f"\n  ... and {more} more" if more > 0 else ""
    raise CorrectionsError(
        f"{len(problems)} invalid correction(s); fix them in the files and import again:\n"
        f"{shown}{tail}",
        problems,
    )
