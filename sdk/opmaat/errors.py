"""Exceptions raised by opmaat; every one derives from `OpmaatError`."""

from __future__ import annotations

from dataclasses import dataclass


class OpmaatError(Exception):
    """Root of every error opmaat raises, so callers can catch them all at once."""


class ConditionError(OpmaatError):
    """A targeting condition that cannot be compiled.

    `path` is the chain of keys and list indices from the top of the condition down to the
    offending part, e.g. ``("$or", 1, "referrer.host", "$regex")``.
    """

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(path, message)
        self.path = path
        self.message = message

    def __str__(self) -> str:
        where = format_condition_path(self.path)
        return f"{where}: {self.message}" if where else self.message


def format_condition_path(path: tuple[str | int, ...]) -> str:
    """Render a condition path for people: ``$or[1].referrer.host.$regex``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


@dataclass(frozen=True, slots=True)
class Problem:
    """One mistake in a configuration file, printed as ``file:line: field: message``."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


class ConfigError(OpmaatError):
    """A configuration file with problems; ``problems`` lists all of them, in file order."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems)
        self.problems = problems

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)
