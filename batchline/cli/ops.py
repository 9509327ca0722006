"""Operations commands (demo, flower): being written."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the operations commands to the top-level app."""
