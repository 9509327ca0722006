"""What every command shares: user errors end in one red line and exit code 1, no traceback."""

from __future__ import annotations

import functools
import os
import typing
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from batchline.errors import BatchlineError

P = ParamSpec("P")
R = TypeVar("R")

#: ``--error-type`` of the retry commands; ``None`` means the library's ``RETRYABLE_ERRORS``
#: (not imported here, to keep pydantic out of the CLI's start-up).
ErrorTypesOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--error-type",
        help="Retry requests that failed this way (repeatable); default: the errors a retry "
        "can fix (provider_error, expired, cancelled, missing)",
    ),
]

console = Console()
err_console = Console(stderr=True)


def user_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn batchline's errors (and bad files) into a one-line message with exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        honour_columns()
        try:
            return func(*args, **kwargs)
        except (BatchlineError, FileNotFoundError, PermissionError) as exc:
            fail(str(exc))
        except Exception as exc:
            # Redis going away mid-command is the user's outage, not our bug: one line too.
            if not type(exc).__module__.startswith("redis."):
                raise
            fail(f"Redis stopped answering: {exc}")

    return wrapper


def fail(message: str) -> typing.NoReturn:
    """Print one red ``error:`` line on stderr and exit with code 1."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1) from None


def require_redis(url: str | None = None) -> str:
    """Check ``REDIS_URL`` (or ``url``) parses and answers, before anything that needs Redis
    starts (see ``batchline.workers.stores.connection.check_redis``)."""
    from batchline.workers.stores.connection import check_redis

    return check_redis(url)


#: Width of output that goes to a pipe or a log with no ``COLUMNS``: Rich would assume 80 and
#: cut table cells (ids, costs) that a reader of the log needs whole.
PIPED_WIDTH = 200


def honour_columns() -> None:
    """Rich reads ``COLUMNS`` once, when the console is made; commands run one after another in
    one process (tests, notebooks, a shell wrapper) must see the width as it is now."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit():
        console.width = int(columns)
    elif not console.is_terminal:
        console.width = PIPED_WIDTH


def load_model(path: str | None) -> Any:
    """Import ``package.module:Model`` (or ``package.module.Model``); a clear error otherwise."""
    from batchline.modelref import import_model

    if not path:
        from pydantic import BaseModel

        class RawAnswer(BaseModel):
            """Any JSON object: used when no response model is given."""

            model_config = {"extra": "allow"}

        return RawAnswer
    return import_model(path)


def outcome_of(result: Any) -> str:
    """``success``, or the error type: what result tables count by."""
    return "success" if result.success else str(result.error_type)


def print_outcomes(kinds: Counter[str], output_file: Path | None) -> None:
    """The closing table of every results command: how many requests ended which way."""
    totals = Table(title="outcomes")
    totals.add_column("outcome")
    totals.add_column("requests", justify="right")
    for kind, count in kinds.most_common():
        totals.add_row(kind, f"{count:,}")
    console.print(totals)
    if output_file:
        console.print(f"written to {output_file}")
