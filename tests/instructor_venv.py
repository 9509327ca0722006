"""A virtual environment of its own for the benchmark's side-by-side runs against instructor.

instructor 1.17 pins ``jiter``, which holds ``openai`` at 3.3; installed beside the test tools it
would hold the whole dev environment there, and CI would test an SDK far older than the one
users get. So it lives only in the ``bench`` extra, installed here, in a venv under the
repository's git-ignored ``.cache/`` that later runs reuse while ``pyproject.toml`` is unchanged.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV = REPO / ".cache" / "instructor-venv"
#: Holds the hash of the pyproject.toml the venv was installed from.
STAMP = VENV / "batchline-pyproject.sha256"
#: Seconds an install may take: a cold uv cache downloads every wheel once.
INSTALL_TIMEOUT = 600


def instructor_python() -> Path:
    """The venv's interpreter, with batchline (editable) and ``.[bench]`` installed.

    A lock file keeps two test processes from building it at once; the second one reuses it.
    """
    VENV.parent.mkdir(exist_ok=True)
    wanted = hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()
    with open(VENV.parent / "instructor-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (STAMP.is_file() and STAMP.read_text() == wanted):
            _install()
            STAMP.write_text(wanted)
    return VENV / "bin" / "python"


def _install() -> None:
    # uv (a dev dependency) builds it in seconds where pip takes minutes; the child environment
    # drops VIRTUAL_ENV so nothing points uv at the dev venv.
    env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
    uv = [sys.executable, "-m", "uv"]
    python = str(VENV / "bin" / "python")
    for command in (
        [*uv, "venv", "--quiet", "--clear", "--python", sys.executable, str(VENV)],
        [*uv, "pip", "install", "--quiet", "--python", python, "-e", f"{REPO}[bench]"],
    ):
        subprocess.run(command, env=env, check=True, timeout=INSTALL_TIMEOUT, cwd=REPO)
