"""A real container engine for the tests that run docker-compose.yml: images and a project.

CI makes the engine usable before pytest (``.ci/run`` runs ``../shared/tools/container-engine``);
these helpers only use it. Images are tagged by a hash of what goes into them, so a run whose
inputs did not change reuses the image instead of rebuilding it, and parallel worktrees with
different code never run each other's image.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.ops.compose import COMPOSE_BIN, COMPOSE_FILE
from tests.ops.processes import REPO

#: What batchline's image is built from (the Dockerfile's COPY sources, and the file itself).
IMAGE_INPUTS = ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md", "batchline")
#: The user's side: an image FROM batchline's that COPYs the example package.
USER_CONTEXT = REPO / "examples" / "containers"
#: Generous: a first build installs every dependency from PyPI on a busy 2-core machine.
BUILD_TIMEOUT = 1200


def docker() -> str:
    return shutil.which("docker") or "docker"


def engine_problem() -> str | None:
    """None when ``docker info`` answers, else one line saying what to do."""
    try:
        done = subprocess.run([docker(), "info"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"no container engine: `docker info` failed ({exc})"
    if done.returncode != 0:
        return f"no container engine answers `docker info`: {done.stderr.strip()[-300:]}"
    return None


def content_tag(name: str, root: Path, inputs: Iterable[str]) -> str:
    """``name:<hash>`` of every file under ``inputs`` (caches and bytecode left out)."""
    digest = hashlib.sha256()
    for entry in inputs:
        path = root / entry
        files = [path] if path.is_file() else sorted(path.rglob("*"))
        for file in files:
            if file.is_file() and "__pycache__" not in file.parts:
                digest.update(file.relative_to(root).as_posix().encode() + b"\0")
                digest.update(file.read_bytes() + b"\0")
    return f"{name}:test-{digest.hexdigest()[:16]}"


def build_args() -> list[str]:
    """The machine's pip index settings, passed to the build when they are set here.

    Local ``file://`` indexes are left out: the build cannot see the host's disk.
    """
    argv: list[str] = []
    for name in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"):
        urls = [u for u in os.environ.get(name, "").split() if not u.startswith("file:")]
        if urls:
            argv += ["--build-arg", f"{name}={' '.join(urls)}"]
    return argv


def ensure_image(tag: str, context: Path, *extra: str) -> None:
    """Build ``tag`` from ``context`` unless an image of that tag exists already."""
    if run([docker(), "image", "inspect", tag], check=False).returncode == 0:
        return
    # --network host: the build's pip must reach PyPI; containers have no other route out here.
    argv = [docker(), "build", "--network", "host", "-t", tag, *build_args(), *extra, str(context)]
    run(argv, timeout=BUILD_TIMEOUT, env={**os.environ, "DOCKER_BUILDKIT": "0"})


def run(
    argv: list[str],
    *,
    timeout: float = 120,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr[-4000:]}")
    return done


@dataclass
class Project:
    """One compose project (its own containers, network and volumes) of docker-compose.yml."""

    name: str
    env: dict[str, str]
    profiles: tuple[str, ...] = ("sandbox",)

    def compose(self, *args: str, timeout: float = 180, check: bool = True) -> str:
        argv = [str(COMPOSE_BIN), "-p", self.name, "-f", str(COMPOSE_FILE)]
        argv += ["--project-directory", str(REPO)]
        for profile in self.profiles:
            argv += ["--profile", profile]
        return run([*argv, *args], timeout=timeout, check=check, env=self.env).stdout

    @property
    def network(self) -> str:
        return f"{self.name}_default"

    def containers(self) -> list[dict[str, Any]]:
        """``docker inspect`` of every container of the project, stopped ones included."""
        ids = self.compose("ps", "--all", "--quiet").split()
        if not ids:
            return []
        return list(json.loads(run([docker(), "inspect", *ids]).stdout))

    def container_id(self, service: str) -> str:
        return self.compose("ps", "--quiet", service).strip()

    def logs(self) -> str:
        return self.compose("logs", "--no-color", "--tail", "60", check=False)[-12000:]

    def down(self) -> None:
        self.compose("down", "--volumes", "--remove-orphans", "--timeout", "10", check=False)
