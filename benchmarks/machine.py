"""The machine and software a run measured, so a figure is never read without its context."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

#: Distributions whose versions change the figures.
PACKAGES = (
    "batchline",
    "instructor",
    "pydantic",
    "pydantic-core",
    "orjson",
    "openai",
    "anthropic",
    "google-genai",
    "celery",
    "kombu",
    "redis",
)


@dataclass(frozen=True, slots=True)
class Machine:
    cores: int
    memory_gib: float
    cpu_model: str
    system: str
    python: str
    packages: dict[str, str]
    date: str
    git_revision: str
    #: Load average (1, 5, 15 min) when the run started: other work on the machine shows here.
    load_at_start: str = ""
    #: The same when the run ended (filled in by the runner).
    load_at_end: str = ""
    redis_server: str = ""


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else platform.processor() or "unknown"


def _memory_gib() -> float:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return 0.0
    match = re.search(r"^MemTotal:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) / 2**20 if match else 0.0


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _git_revision() -> str:
    """The commit measured, marked when the working tree has changes on top of it."""
    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=True, timeout=10
        )
        return done.stdout.strip()

    try:
        revision = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{revision} (with uncommitted changes)" if dirty else revision


def load_average() -> str:
    try:
        return " / ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def describe_machine() -> Machine:
    return Machine(
        cores=os.cpu_count() or 0,
        memory_gib=_memory_gib(),
        cpu_model=_cpu_model(),
        system=f"{platform.system()} {platform.release()}",
        python=platform.python_version(),
        packages={name: _version(name) for name in PACKAGES},
        date=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        git_revision=_git_revision(),
        load_at_start=load_average(),
    )
