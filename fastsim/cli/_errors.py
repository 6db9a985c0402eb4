"""Turn bad-input errors into one short line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer

from fastsim.errors import FastsimError


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    try:
        yield
    except FastsimError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(130) from None
