"""Third-party batch clients, each installed from PyPI into a venv of its own.

Their code is never copied here: each is installed by name and version with pip, and driven
by a small script of ours (``drivers/``) run with that venv's interpreter. The venvs are
cached under the repository's git-ignored ``.fidelity/`` folder, keyed by what was installed,
so only the first run (or a version bump) pays for the install.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from batchline.sandbox import Sandbox

REPO = Path(__file__).resolve().parents[2]
#: Where the client venvs live; listed in ``.gitignore``.
VENVS = REPO / ".fidelity"
DRIVERS = Path(__file__).resolve().parent / "drivers"
#: How long one install may take before the test gives up on it.
INSTALL_TIMEOUT = 600


@dataclass(frozen=True)
class Client:
    """A third-party client as pip installs it: the venv's name and pip's arguments."""

    name: str
    requirement: str
    #: Extra pip flags. batchata declares ``Requires-Python >=3.12`` from 0.2.1 on, and this
    #: project's machines have Python 3.11 only; its code imports and runs on 3.11.
    pip_flags: tuple[str, ...] = ()


PYDANTIC_AI = Client("pydantic-ai-slim", "pydantic-ai-slim[openai,anthropic]==2.68.0")
STEADYBATCH = Client("steadybatch", "steadybatch[openai,anthropic]==0.2.1")
BATCHATA = Client("batchata", "batchata==0.4.7", ("--ignore-requires-python",))


def client_python(client: Client) -> Path:
    """The interpreter of the client's venv, creating and installing it first if need be.

    A lock file keeps two test processes from building the same venv at once.
    """
    venv = VENVS / client.name
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    wanted = " ".join((client.requirement, *client.pip_flags))
    VENVS.mkdir(exist_ok=True)
    with (VENVS / f"{client.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == wanted and python.exists():
            return python
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *client.pip_flags, client.requirement],
            check=True,
            timeout=INSTALL_TIMEOUT,
        )
        stamp.write_text(wanted)
    return python


def run_driver(
    client: Client, driver: str, args: list[str], env: dict[str, str], timeout: float = 180
) -> list[str]:
    """Run one of our driver scripts in the client's venv; the JSON of each line it marks
    ``result:`` (a client may log to stdout too, as batchata does)."""
    python = client_python(client)
    # Only the sandbox's addresses and keys, on top of a clean PATH: the client must not
    # pick up this project's venv or a real key from the environment.
    clean = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), **env}
    done = subprocess.run(
        [str(python), str(DRIVERS / driver), *args],
        env=clean,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tempfile.gettempdir(),
    )
    assert done.returncode == 0, f"{client.name} failed:\n{done.stderr[-4000:]}"
    marker = "result: "
    return [line[len(marker) :] for line in done.stdout.splitlines() if line.startswith(marker)]


@pytest.fixture
def sandbox_env(sandbox: Sandbox) -> dict[str, str]:
    """The running sandbox's environment, for a client's process."""
    return dict(sandbox.env)
