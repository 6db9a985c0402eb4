"""Turn bad-input errors into one short line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer

from fastsim.errors import FastsimError, InputError


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


@contextlib.contextmanager
def user_errors(options: dict[str, str] | None = None) -> Iterator[None]:
    """Report bad input, OS errors and running out of memory as one line and exit 2.

    ``options`` maps a function argument to the command-line option that set it: an error about that
    argument's value (one that names no file) is reported as the option's."""
    try:
        yield
    except InputError as exc:
        option = (options or {}).get(exc.field) if exc.source is None else None
        raise _fail(f"{option}: {exc.problem}" if option else str(exc)) from None
    except FastsimError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        # Python's own OS errors carry the path apart; polars and pyarrow write it into the message
        named = exc.filename is not None and exc.strerror
        raise _fail(f"{exc.filename}: {exc.strerror}" if named else str(exc)) from None
    except MemoryError:
        raise _fail("out of memory; make the run smaller (fewer payments or nodes)") from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(130) from None
