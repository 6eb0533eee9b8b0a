"""User-facing errors: one line naming the problem and the fix, exit code 2."""
from __future__ import annotations

import difflib
from collections.abc import Iterable


class HarnessError(Exception):
    """An error caused by the user's input or environment; printed as one line, exit code 2."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        text = self.message.rstrip(".")
        if self.hint:
            text += f"; {self.hint}"
        return " ".join(text.split())


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ' (did you mean X?)' suffix, or '' when nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"


def unknown_name(kind: str, name: str, known: Iterable[str]) -> HarnessError:
    """The standard error for a name missing from a registry or a schema."""
    known = sorted(set(known))
    shown = ", ".join(known[:12]) + (" ..." if len(known) > 12 else "")
    return HarnessError(
        f"unknown {kind} {name!r}{did_you_mean(name, known)}",
        f"known: {shown}" if known else None,
    )
