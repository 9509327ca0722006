"""The Dockerfile, checked without a Docker engine: its base image and user, and a real
setuptools build of exactly the files its ``COPY`` lines put in the image (after
``.dockerignore``)."""

from __future__ import annotations

import fnmatch
import shlex
import shutil
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

from tests.ops.compose import compose_config
from tests.ops.processes import REPO

DOCKERFILE = REPO / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    joined = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in joined.splitlines()]
    pairs = [line.split(None, 1) for line in lines if line and not line.startswith("#")]
    return [(word.upper(), rest) for word, rest in pairs]


def ignored(relative: str) -> bool:
    """Whether ``.dockerignore`` leaves this path (relative to the context) out."""
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        bare = pattern.removeprefix("**/")
        if any(fnmatch.fnmatch(p, pattern) for p in prefixes):
            return True
        if pattern.startswith("**/") and any(fnmatch.fnmatch(part, bare) for part in parts):
            return True
    return False


def stage_image_files(stage: Path) -> None:
    """Copy what the Dockerfile's COPY lines would put in WORKDIR into ``stage``."""
    for word, rest in instructions():
        if word != "COPY":
            continue
        *sources, dest = shlex.split(rest)
        assert not any(s.startswith("--") for s in sources), "COPY flags are not modelled here"
        for source in sources:
            origin = REPO / source
            assert origin.exists(), f"COPY {source}: not in the repository"
            files = [origin] if origin.is_file() else sorted(origin.rglob("*"))
            for path in files:
                relative = path.relative_to(REPO).as_posix()
                if path.is_dir() or ignored(relative):
                    continue
                inside = path.relative_to(origin) if origin.is_dir() else Path(path.name)
                target = stage / dest / inside if origin.is_dir() else stage / inside
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)


def test_the_image_builds_from_python_3_11_slim_and_runs_as_a_non_root_user() -> None:
    steps = instructions()
    assert steps[0] == ("FROM", "python:3.11-slim")
    assert ("WORKDIR", "/app") in steps
    assert any(word == "RUN" and "pip install ." in rest for word, rest in steps)
    users = [rest for word, rest in steps if word == "USER"]
    assert users and users[-1] not in {"root", "0"}


def test_the_services_start_in_the_users_code_directory_which_is_on_pythonpath() -> None:
    steps = instructions()
    workdirs = [rest for word, rest in steps if word == "WORKDIR"]
    assert workdirs[-1] == "/srv/app"
    env = " ".join(rest for word, rest in steps if word == "ENV")
    assert "PYTHONPATH=/srv/app" in env.split()


def test_the_users_image_builds_from_batchlines_and_copies_into_the_code_directory() -> None:
    user_dockerfile = REPO / "examples" / "containers" / "Dockerfile"
    lines = [
        line.split()
        for line in user_dockerfile.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ["ARG", "BATCHLINE_IMAGE=batchline:local"] in lines
    assert ["FROM", "${BATCHLINE_IMAGE}"] in lines
    copies = [words for words in lines if words[0] == "COPY"]
    assert copies and all(words[-1].startswith("/srv/app/") for words in copies)
    for words in copies:
        assert (user_dockerfile.parent / words[1]).is_dir(), words


def test_the_build_context_leaves_out_the_venv_tests_and_local_secrets() -> None:
    for path in (".venv/bin/python", ".git/HEAD", "tests/conftest.py", ".env", ".env.local"):
        assert ignored(path), path
    for path in ("pyproject.toml", "README.md", "batchline/cli/ops.py"):
        assert not ignored(path), path


def test_setuptools_builds_the_package_from_exactly_what_the_image_copies(
    tmp_path: Path,
) -> None:
    stage, dist = tmp_path / "app", tmp_path / "dist"
    stage.mkdir()
    stage_image_files(stage)
    project = tomllib.loads((stage / "pyproject.toml").read_text())["project"]
    assert (stage / project["readme"]).is_file(), "pyproject's readme is not in the image"
    # The image runs `pip install .`, which builds with setuptools from these files. A source
    # distribution is the same build step offline (a wheel would need PyPI for its tooling):
    # it fails on a file pyproject names but the image lacks, and lists what gets packaged.
    build = "import sys; from setuptools import build_meta; build_meta.build_sdist(sys.argv[1])"
    done = subprocess.run(
        [sys.executable, "-c", build, str(dist)],
        cwd=stage,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    [sdist] = dist.glob("batchline-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"batchline/data/prices.json", "batchline/py.typed", "batchline/cli/ops.py"} <= names
    assert not any("__pycache__" in name for name in names)


def test_every_batchline_service_builds_from_this_dockerfile(tmp_path: Path) -> None:
    for profile in ("sandbox", "live"):
        for name, service in compose_config(tmp_path, profile)["services"].items():
            if service["command"][0] != "batchline":
                continue
            assert service["build"]["context"] == str(REPO), name
            assert service["build"]["dockerfile"] == "Dockerfile", name
