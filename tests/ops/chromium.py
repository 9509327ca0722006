"""Debian's Chromium for the Flower browser test, installed by the suite when it is missing.

Playwright's own browser download needs its CDN, which a machine with only package registries
cannot reach; Debian's ``chromium`` package comes from apt. The README's test command promises a
pass given only Redis, so the suite installs it itself when it runs as root, and otherwise
fails naming the command to run.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
#: apt-get update plus a ~100 MB package on a slow mirror.
INSTALL_TIMEOUT = 900
#: Seconds apt-get waits for another apt process (another test run, an admin) to finish.
APT_LOCK_WAIT = 600


def ensure_chromium(lock_dir: Path) -> Path:
    """The Chromium binary, installed with apt-get first if it is absent."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise RuntimeError(
            f"{CHROMIUM} is missing and this is not a root Debian shell: "
            "run `apt-get install -y chromium`"
        )
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / "chromium-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the other xdist worker waits, then finds it there
        if not CHROMIUM.exists():
            _apt_install()
    return CHROMIUM


def _apt_install() -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    wait = f"DPkg::Lock::Timeout={APT_LOCK_WAIT}"
    for command in (
        ["apt-get", "-o", wait, "update", "-qq"],
        ["apt-get", "-o", wait, "install", "-y", "-qq", "--no-install-recommends", "chromium"],
    ):
        subprocess.run(command, env=env, check=True, timeout=INSTALL_TIMEOUT, capture_output=True)
