"""Errors for bad user input: each names the file, the field and what was expected."""

from __future__ import annotations

from pathlib import Path


class FastsimError(Exception):
    """Base class for errors the CLI reports as one short line, without a traceback."""


class InputError(FastsimError):
    """A file or value given by the user is malformed."""

    def __init__(self, source: str | Path | None, field: str | None, problem: str):
        self.source = str(source) if source is not None else None
        self.field = field
        self.problem = problem
        where = self.source or "<input>"
        if field:
            where = f"{where}: field '{field}'"
        super().__init__(f"{where}: {problem}")
