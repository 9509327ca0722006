"""docker-compose.yml, checked by Docker Compose itself and against the real CLI and servers.

These need no container engine: Compose validates and resolves the file, the ``batchline``
parser accepts each service's command, and the commands whose behaviour matters (Redis
persistence, the sandbox and its healthcheck) run as local processes. The whole stack runs on a
real engine in ``test_container_stack.py``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import redis

from batchline.sandbox import Sandbox
from tests.ops.compose import compose_config, parse_batchline
from tests.ops.processes import BATCHLINE, REPO, free_port, running, wait_until

SANDBOX_STACK = {"redis", "flower", "sandbox", "sandbox-worker", "sandbox-beat"}
LIVE_STACK = {"redis", "flower", "worker", "beat"}


def services(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(config["services"])


def test_sandbox_profile_runs_the_whole_stack_offline(tmp_path: Path) -> None:
    assert set(services(compose_config(tmp_path, "sandbox"))) == SANDBOX_STACK


def test_live_profile_runs_workers_for_real_providers_without_the_sandbox(tmp_path: Path) -> None:
    assert set(services(compose_config(tmp_path, "live"))) == LIVE_STACK


def test_without_a_profile_only_redis_and_flower_start(tmp_path: Path) -> None:
    # A bare `up` must not start workers that guess whether to talk to the sandbox.
    assert set(services(compose_config(tmp_path))) == {"redis", "flower"}


def test_sandbox_workers_point_at_the_sandbox_as_it_advertises_itself(tmp_path: Path) -> None:
    stack = services(compose_config(tmp_path, "sandbox"))
    params = parse_batchline(stack["sandbox"]["command"][1:]).params
    # The sandbox builds the URLs it hands out (Anthropic's results_url, its storage endpoint)
    # from the address it listens on, so that address must be one the workers can reach.
    advertised = Sandbox(host=params["host"], port=params["port"], gcs_port=params["gcs_port"]).env
    for name in ("sandbox-worker", "sandbox-beat"):
        env = stack[name]["environment"]
        assert {key: env.get(key) for key in advertised} == advertised, name
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        assert stack[name]["depends_on"]["sandbox"]["condition"] == "service_healthy"


def test_live_workers_pass_provider_settings_through_and_leave_unset_ones_unset(
    tmp_path: Path,
) -> None:
    stack = services(compose_config(tmp_path, "live", env={"OPENAI_API_KEY": "sk-from-host"}))
    for name in ("worker", "beat"):
        env = stack[name]["environment"]
        assert env["OPENAI_API_KEY"] == "sk-from-host"
        # None means "not set in the container", so the SDKs keep their real endpoints.
        assert env["ANTHROPIC_API_KEY"] is None
        assert env["OPENAI_BASE_URL"] is None
        assert "STORAGE_EMULATOR_HOST" not in env
        assert not any("sandbox" in str(value) for value in env.values())


@pytest.mark.parametrize("profile", ["sandbox", "live"])
def test_every_batchline_service_command_is_accepted_by_the_real_cli(
    tmp_path: Path, profile: str
) -> None:
    stack = services(compose_config(tmp_path, profile))
    commands = {name: svc["command"] for name, svc in stack.items() if name != "redis"}
    assert all(command[0] == "batchline" for command in commands.values()), commands
    for command in commands.values():
        parse_batchline(command[1:])


def test_each_profile_runs_exactly_one_beat(tmp_path: Path) -> None:
    # Two beats double every poll tick.
    for profile in ("sandbox", "live"):
        stack = services(compose_config(tmp_path, profile))
        beats = [name for name, svc in stack.items() if svc["command"][1] == "beat"]
        assert len(beats) == 1, (profile, beats)
        assert "deploy" not in stack[beats[0]] or stack[beats[0]]["deploy"].get("replicas") == 1


def test_flower_takes_basic_auth_from_the_environment_and_listens_on_loopback_only(
    tmp_path: Path,
) -> None:
    flower = services(compose_config(tmp_path, env={"FLOWER_BASIC_AUTH": "ops:s3cret"}))["flower"]
    assert flower["environment"]["FLOWER_BASIC_AUTH"] == "ops:s3cret"
    assert "s3cret" not in " ".join(flower["command"])
    assert [port["host_ip"] for port in flower["ports"]] == ["127.0.0.1"]
    params = parse_batchline(flower["command"][1:]).params
    assert params["unauthenticated"] is False
    assert {port["target"] for port in flower["ports"]} == {params["port"]}


def test_redis_keeps_its_append_only_file_on_a_named_volume(tmp_path: Path) -> None:
    config = compose_config(tmp_path)
    redis_service = services(config)["redis"]
    command = redis_service["command"]
    data_dir = command[command.index("--dir") + 1]
    [volume] = redis_service["volumes"]
    assert volume["type"] == "volume" and volume["target"] == data_dir
    assert volume["source"] in config["volumes"]
    assert command[command.index("--appendonly") + 1] == "yes"


def test_the_redis_command_really_persists_every_write_to_the_append_only_file(
    tmp_path: Path,
) -> None:
    command = services(compose_config(tmp_path))["redis"]["command"]
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    port = free_port()
    argv = [arg if arg != "/data" else str(data_dir) for arg in command]
    argv += ["--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    with running(argv, {"PATH": "/usr/bin:/bin"}, tmp_path / "redis.log"):
        client = redis.Redis(port=port)
        wait_until(lambda: _pings(client), 10, "the compose redis command to answer")
        client.set("batchline:compose-check", "kept")
        client.close()
    # The server has stopped; the write must be in the append-only file it left behind.
    assert b"batchline:compose-check" in b"".join(
        path.read_bytes() for path in data_dir.rglob("*.aof")
    )


def test_the_sandbox_service_starts_and_passes_its_own_healthcheck(tmp_path: Path) -> None:
    sandbox = services(compose_config(tmp_path, "sandbox"))["sandbox"]
    port, gcs_port = free_port(), free_port()
    # In compose it listens on sandbox:8900/8901; here on loopback and free ports.
    command = list(sandbox["command"])
    for option, value in (("--host", "127.0.0.1"), ("--port", port), ("--gcs-port", gcs_port)):
        command[command.index(option) + 1] = str(value)
    argv = [BATCHLINE, *command[1:]]
    check = [
        arg.replace("sandbox:8900", f"127.0.0.1:{port}")
        for arg in sandbox["healthcheck"]["test"][1:]
    ]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    with running(argv, env, tmp_path / "sandbox.log") as proc:
        wait_until(
            lambda: _exited(proc, tmp_path) or _succeeds(check),
            30,
            "the sandbox healthcheck to pass",
            interval=0.3,
        )


def _exited(proc: subprocess.Popen[bytes], tmp_path: Path) -> bool:
    if proc.poll() is not None:
        raise AssertionError((tmp_path / "sandbox.log").read_text())
    return False


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def _succeeds(argv: list[str]) -> bool:
    import sys

    argv = [sys.executable if arg == "python" else arg for arg in argv]
    return subprocess.run(argv, capture_output=True, timeout=10).returncode == 0


def test_sandbox_workers_sign_webhooks_with_a_secret_the_stack_can_override(
    tmp_path: Path,
) -> None:
    # Without one, every webhook callback fails for good.
    default = services(compose_config(tmp_path, "sandbox"))
    chosen = services(
        compose_config(tmp_path, "sandbox", env={"BATCHLINE_WEBHOOK_SECRET": "from-the-shell"})
    )
    for name in ("sandbox-worker", "sandbox-beat"):
        assert default[name]["environment"]["BATCHLINE_WEBHOOK_SECRET"], name
        assert chosen[name]["environment"]["BATCHLINE_WEBHOOK_SECRET"] == "from-the-shell"


@pytest.mark.parametrize(("profile", "beat"), [("sandbox", "sandbox-beat"), ("live", "beat")])
def test_beat_keeps_its_schedule_on_a_named_volume_outside_the_code(
    tmp_path: Path, profile: str, beat: str
) -> None:
    config = compose_config(tmp_path, profile)
    service = services(config)[beat]
    schedule = Path(parse_batchline(service["command"][1:]).params["schedule"])
    assert schedule.is_absolute() and not schedule.is_relative_to("/srv/app"), schedule
    [volume] = [v for v in service["volumes"] if v["target"] == str(schedule.parent)]
    assert volume["type"] == "volume" and volume["source"] in config["volumes"]
    assert not volume.get("read_only")


def test_the_two_beats_never_share_a_schedule_file(tmp_path: Path) -> None:
    sources = set()
    for profile, beat in (("sandbox", "sandbox-beat"), ("live", "beat")):
        [volume] = [
            v
            for v in services(compose_config(tmp_path, profile))[beat]["volumes"]
            if v["type"] == "volume"
        ]
        sources.add(volume["source"])
    assert len(sources) == 2


@pytest.mark.parametrize("profile", ["sandbox", "live"])
def test_every_batchline_service_runs_in_the_users_code_directory(
    tmp_path: Path, profile: str
) -> None:
    app_dir = tmp_path / "myapp"
    env = {"BATCHLINE_APP_DIR": str(app_dir), "BATCHLINE_INCLUDE": "myjobs,myjobs.hooks"}
    stack = services(compose_config(tmp_path, profile, env=env))
    for name, service in stack.items():
        if name == "redis":
            continue
        assert service["working_dir"] == "/srv/app", name
        [mount] = [v for v in service["volumes"] if v["target"] == "/srv/app"]
        assert mount["type"] == "bind" and mount["source"] == str(app_dir), name
        assert mount["read_only"] is True, name
    for name in ("sandbox-worker", "sandbox-beat") if profile == "sandbox" else ("worker", "beat"):
        assert stack[name]["environment"]["BATCHLINE_INCLUDE"] == "myjobs,myjobs.hooks", name


def test_by_default_the_services_get_the_example_package_and_no_include(tmp_path: Path) -> None:
    stack = services(compose_config(tmp_path, "sandbox"))
    [mount] = [v for v in stack["sandbox-worker"]["volumes"] if v["target"] == "/srv/app"]
    assert (Path(mount["source"]) / "invoicing" / "jobs.py").is_file()
    # None: unset in the container, so the workers import nothing extra at start.
    assert stack["sandbox-worker"]["environment"]["BATCHLINE_INCLUDE"] is None


def test_the_image_tag_can_be_chosen_for_the_build_and_the_run(tmp_path: Path) -> None:
    stack = services(compose_config(tmp_path, "sandbox", env={"BATCHLINE_IMAGE": "shop:1"}))
    assert {svc["image"] for name, svc in stack.items() if name != "redis"} == {"shop:1"}


def test_the_baked_override_runs_workers_and_beat_from_the_users_image_without_the_mount(
    tmp_path: Path,
) -> None:
    baked = REPO / "examples" / "containers" / "compose.baked.yml"
    env = {"BATCHLINE_APP_IMAGE": "shop:2"}
    config = compose_config(tmp_path, "sandbox", "live", env=env, overrides=(baked,))
    stack = services(config)
    plain = services(compose_config(tmp_path, "sandbox", "live"))
    for name in ("worker", "beat", "sandbox-worker", "sandbox-beat"):
        service = stack[name]
        # Built separately: compose must not build batchline's Dockerfile under the user's tag.
        assert service["image"] == "shop:2" and "build" not in service, name
        # The mount would hide the code baked into /srv/app.
        mounts = [v for v in service.get("volumes", []) if v["target"] == "/srv/app"]
        assert mounts == [], name
        assert service["command"] == plain[name]["command"], name
        assert service["environment"] == plain[name]["environment"], name
    for beat in ("beat", "sandbox-beat"):
        assert stack[beat]["volumes"] == plain[beat]["volumes"][1:], beat
