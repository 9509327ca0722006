"""Every user error of the CLI is one line and exit code 1: never a traceback, never a hang.

Each test runs the real ``batchline`` command of this venv as a subprocess.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

BATCHLINE = str(Path(sys.executable).with_name("batchline"))
#: Nothing listens on port 1; a URL that is not a Redis URL at all.
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"
MALFORMED_REDIS = "localhost:6379"
#: The shared test Redis (the worker tests' database).
REDIS = "redis://127.0.0.1:6379/9"


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> tuple[int, str, float]:
    """Run ``batchline args...``; its exit code, its output (stdout and stderr) and seconds."""
    started = time.monotonic()
    done = subprocess.run(
        [BATCHLINE, *args],
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        check=False,
    )
    return done.returncode, done.stdout.decode(), time.monotonic() - started


def assert_one_line_error(code: int, output: str, *words: str) -> None:
    lines = output.strip().splitlines()
    assert code == 1, output
    assert len(lines) == 1, output
    assert "Traceback" not in output
    assert lines[0].startswith("error: "), output
    for word in words:
        assert word in lines[0], output


# -- Redis -------------------------------------------------------------------------------------
REDIS_COMMANDS = [
    ("jobs", "list"),
    ("jobs", "show", "0123456789abcdef"),
    ("jobs", "cancel", "0123456789abcdef"),
    ("worker",),
    ("beat",),
    ("flower", "--unauthenticated"),
]


@pytest.mark.parametrize("command", REDIS_COMMANDS, ids=" ".join)
def test_an_unreachable_redis_is_one_line(command: tuple[str, ...]) -> None:
    code, output, _ = run_cli(*command, env={"REDIS_URL": UNREACHABLE_REDIS})
    assert_one_line_error(code, output, "Redis is not answering at redis://127.0.0.1:1/0")


@pytest.mark.parametrize("command", [*REDIS_COMMANDS, ("demo",)], ids=" ".join)
def test_a_malformed_redis_url_is_one_line(command: tuple[str, ...]) -> None:
    code, output, _ = run_cli(*command, env={"REDIS_URL": MALFORMED_REDIS})
    assert_one_line_error(code, output, f"REDIS_URL {MALFORMED_REDIS!r} is malformed")


def test_the_redis_password_is_not_printed() -> None:
    code, output, _ = run_cli("jobs", "list", env={"REDIS_URL": "redis://:s3cret@127.0.0.1:1/0"})
    assert_one_line_error(code, output, "redis://:***@127.0.0.1:1/0")
    assert "s3cret" not in output


# -- the sandbox's settings ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("option", "value", "said"),
    [
        ("--batch-outcome", "explode", "batch outcome 'explode' is not one of fail_validation"),
        ("--error-rate", "1.5", "error_rate must be between 0 and 1, got 1.5"),
        ("--http-429-rate", "-0.1", "http_429_rate must be between 0 and 1, got -0.1"),
        ("--refusal-rate", "2", "refusal_rate must be between 0 and 1"),
    ],
)
def test_a_bad_sandbox_setting_is_one_line(option: str, value: str, said: str) -> None:
    code, output, _ = run_cli("sandbox", "--port", "0", option, value)
    assert_one_line_error(code, output, said)


# -- taken ports ---------------------------------------------------------------------------------
@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another process (this test) is listening on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


#: "Gone within a few seconds": the time to start Python and import the command, on a loaded
#: two-core machine, and nothing more (no retry loop, no hang).
EXIT_WITHIN = 20.0


def test_the_sandbox_on_a_taken_port_is_one_line_and_exits(taken_port: int) -> None:
    code, output, seconds = run_cli("sandbox", "--port", str(taken_port), timeout=EXIT_WITHIN)
    assert_one_line_error(code, output, f"cannot listen on 127.0.0.1:{taken_port}")
    assert "export" not in output  # no banner before the error
    assert seconds < EXIT_WITHIN


def test_the_sandbox_on_a_taken_storage_port_is_one_line_and_exits(taken_port: int) -> None:
    code, output, seconds = run_cli(
        "sandbox", "--port", "0", "--gcs-port", str(taken_port), timeout=EXIT_WITHIN
    )
    assert_one_line_error(code, output, f"{taken_port} for the sandbox's Cloud Storage")
    assert seconds < EXIT_WITHIN


def test_flower_on_a_taken_port_is_one_line_and_exits(taken_port: int) -> None:
    code, output, seconds = run_cli(
        "flower",
        "--port",
        str(taken_port),
        env={"REDIS_URL": REDIS, "FLOWER_BASIC_AUTH": "ops:secret-pass"},
        timeout=EXIT_WITHIN,
    )
    assert_one_line_error(code, output, f"cannot listen on 127.0.0.1:{taken_port} for Flower")
    assert seconds < EXIT_WITHIN


# -- the worker's own modules ------------------------------------------------------------------
@pytest.mark.parametrize("command", ["worker", "beat"])
def test_an_include_that_does_not_import_is_one_line(command: str, tmp_path: Path) -> None:
    code, output, _ = run_cli(command, "--include", "no_such_module_here", env={"REDIS_URL": REDIS})
    assert_one_line_error(code, output, "--include no_such_module_here: cannot import it")


def test_an_include_from_the_environment_that_does_not_import_is_one_line() -> None:
    code, output, _ = run_cli(
        "worker", env={"REDIS_URL": REDIS, "BATCHLINE_INCLUDE": "json, not_a_module_either"}
    )
    assert_one_line_error(code, output, "--include not_a_module_either: cannot import it")


# -- exit codes of worker and beat -------------------------------------------------------------
def test_the_worker_exits_non_zero_when_celerys_worker_fails(tmp_path: Path) -> None:
    """``celery worker`` exits 1 when it cannot start (here: its pid file cannot be written);
    a supervisor that restarts on failure must see the same from ``batchline worker``."""
    pidfile = tmp_path / "no-such-dir" / "worker.pid"
    code, output, _ = run_cli(
        "worker",
        "--",
        "--without-mingle",
        f"--pidfile={pidfile}",
        env={
            "REDIS_URL": REDIS,
            "BATCHLINE_QUEUE": f"bltest-exit-{os.getpid()}",
            "BATCHLINE_BROKER_KEY_PREFIX": f"bltest-exit-{os.getpid()}:",
            # This Redis keeps nothing on disk; the test is about Celery's own failure.
            "BATCHLINE_ALLOW_VOLATILE_REDIS": "1",
        },
    )
    assert code == 1, output
    assert "LockFailed" in output  # Celery's own report, as `celery worker` prints it


def test_a_bad_celery_option_exits_as_celery_would() -> None:
    code, output, _ = run_cli("worker", "--", "--no-such-celery-option", env={"REDIS_URL": REDIS})
    assert code == 2, output  # click's usage error, as from `celery worker`
    assert "No such option" in output and "Traceback" not in output
