"""``batchline demo`` run as a user runs it: a real command, real Redis, real child processes.

After every run nothing it started may be left: no process working in its log directory, no
redis-server it started, no key under its prefix.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import openai
import redis

from batchline.demo import PriceTable, demo_models
from batchline.sandbox import Sandbox
from tests.ops.conftest import OPS_REDIS_URL
from tests.ops.processes import BATCHLINE, free_port, wait_until

#: Wide enough that Rich never cuts a model name or a number in the tables.
COLUMNS = "200"


def demo_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a fresh shell: no provider keys, no batchline settings."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL")}
    env.update(HOME=str(tmp_path), COLUMNS=COLUMNS, TERM="dumb", **extra)
    return env


def run_demo(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BATCHLINE, "demo", *args],
        env=demo_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def processes_working_in(directory: Path) -> list[int]:
    """Pids whose working directory is ``directory`` (the demo runs its children there)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if Path(os.readlink(entry / "cwd")) == directory.resolve():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False
    finally:
        client.close()


def keys_under(prefix: str) -> list[bytes]:
    client = redis.Redis.from_url(OPS_REDIS_URL)
    try:
        return list(client.scan_iter(match=f"{prefix}*", count=1000))
    finally:
        client.close()


def demo_prefix(output: str) -> str:
    found = re.search(r"keys under (batchline-demo-[0-9a-f]+):", output)
    assert found, output
    return found[1]


def result_row(output: str, model: str) -> str:
    return next(line for line in output.splitlines() if line.startswith(f"│ {model} "))


def test_demo_runs_one_job_per_provider_offline_and_shows_results_callbacks_and_savings(
    tmp_path: Path,
) -> None:
    logs = tmp_path / "logs"
    nothing_there = f"redis://127.0.0.1:{free_port()}/0"

    done = run_demo(tmp_path, "--log-dir", str(logs), REDIS_URL=nothing_there)

    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "sandbox for OpenAI, Anthropic and Vertex AI" in out
    started = re.search(rf"no Redis at {nothing_there}; started redis-server at (\S+)", out)
    assert started, out
    for model in demo_models():
        row = result_row(out, model)
        assert "completed" in row and "5/5" in row, row
        assert f"{model}: 5 of 5 results typed as Contact" in out
    as_of = PriceTable.load().as_of.isoformat()
    assert re.search(rf"saved \$[0-9.]+ \(50%\) against live calls, .* of {as_of}", out), out
    # Everything it started has stopped: worker, beat, and the redis-server.
    assert processes_working_in(logs) == []
    assert not answers(started[1])


def test_demo_with_a_model_and_its_key_runs_against_that_provider_without_a_sandbox(
    tmp_path: Path,
) -> None:
    # A stand-in for the real OpenAI: only its address and key reach the demo, as a user's
    # would. The demo must not start a sandbox of its own.
    with Sandbox() as provider:
        done = run_demo(
            tmp_path,
            "--model",
            "openai/gpt-4.1-mini",
            "--requests",
            "2",
            "--log-dir",
            str(tmp_path / "logs"),
            REDIS_URL=OPS_REDIS_URL,
            OPENAI_API_KEY=provider.env["OPENAI_API_KEY"],
            OPENAI_BASE_URL=provider.openai_base_url,
            BATCHLINE_POLL_INTERVAL="0.5",
        )
        client = openai.OpenAI(api_key="sk-any", base_url=provider.openai_base_url)
        batches = client.batches.list().data

    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 job(s) on the real providers" in done.stdout
    assert "sandbox for" not in done.stdout
    assert f"Redis at {OPS_REDIS_URL}" in done.stdout
    assert "2/2" in result_row(done.stdout, "openai/gpt-4.1-mini")
    assert len(batches) == 1 and batches[0].status == "completed"
    assert keys_under(demo_prefix(done.stdout)) == []


def test_ctrl_c_stops_the_worker_beat_and_everything_else_the_demo_started(
    tmp_path: Path,
) -> None:
    logs = tmp_path / "logs"
    worker_log = logs / "worker.log"
    demo = subprocess.Popen(
        [BATCHLINE, "demo", "--log-dir", str(logs)],
        env=demo_env(tmp_path, REDIS_URL=OPS_REDIS_URL),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Interrupt with jobs in flight: the worker has started submitting.
        wait_until(
            lambda: worker_log.exists() and "state=submitting" in worker_log.read_text(),
            60,
            "the demo's worker to start on a job",
        )
        demo.send_signal(signal.SIGINT)
        out, err = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()

    assert demo.returncode == 130, out + err
    assert "interrupted" in out
    assert processes_working_in(logs) == []
    assert keys_under(demo_prefix(out)) == []


def test_demo_says_how_to_get_redis_when_none_answers_and_none_can_be_started(
    tmp_path: Path,
) -> None:
    # Only the venv's own scripts on PATH: no redis-server to fall back on.
    done = run_demo(
        tmp_path,
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        PATH=str(Path(sys.executable).parent),
    )

    assert done.returncode == 1
    message = " ".join(done.stderr.split())
    assert "Redis is not answering" in message
    assert "apt-get install redis-server" in message and "REDIS_URL" in message


def test_demo_against_a_real_provider_names_the_missing_key_before_starting_anything(
    tmp_path: Path,
) -> None:
    logs = tmp_path / "logs"
    done = run_demo(tmp_path, "--model", "anthropic/claude-haiku-4-5", "--log-dir", str(logs))

    assert done.returncode == 1
    message = " ".join(done.stderr.split())
    assert "needs ANTHROPIC_API_KEY" in message
    assert "without --model" in message
    assert not logs.exists()
