"""Operator files: the Dockerfile runs the `walletpass` CLI; compose.yaml wires web, worker, PostgreSQL and Redis.

This machine has no Docker engine, so these read the files: each command is parsed by the real click CLI, each
environment by the real Settings, each healthcheck script compiled. `docker compose config` runs too where the
compose plugin is installed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from api.cli import main
from walletpass.config import ENV_VARS, PREFIX, Settings

ROOT = Path(__file__).resolve().parents[1]


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    lines = [line for line in (ROOT / "Dockerfile").read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    return [(m[1].upper(), m[2].strip()) for m in re.finditer(r"^\s*([A-Za-z]+)\s+(.*)$", joined, re.M)]


def instructions(name: str) -> list[str]:
    return [args for instr, args in dockerfile() if instr == name]


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), f"not exec form: {args}"
    return value


def parse_cli(argv: list[str]) -> click.Context:
    """Parse *argv* (subcommands, then options) with the walletpass CLI, without running the command."""
    command: click.Command = main
    name, rest = "walletpass", list(argv)
    while isinstance(command, click.Group):
        name, rest = rest[0], rest[1:]
        found = command.get_command(click.Context(command), name)
        assert found is not None, f"walletpass has no command {name!r}"
        command = found
    return command.make_context(name, rest)


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for args in instructions("ENV"):
        env.update(dict(re.findall(r"(\w+)=(\S+)", args)))
    return env


def test_image_entry_point_is_the_walletpass_console_script() -> None:
    (entrypoint,) = instructions("ENTRYPOINT")
    assert exec_form(entrypoint) == ["walletpass"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, func = scripts["walletpass"].split(":")
    assert (module, func) == ("api.cli", "main")
    (cmd,) = instructions("CMD")
    assert exec_form(cmd) == ["serve", "--host", "0.0.0.0"]
    assert parse_cli(exec_form(cmd)).params["host"] == "0.0.0.0"


def test_image_is_slim_unprivileged_with_volumes_and_a_healthcheck() -> None:
    assert instructions("FROM") == ["python:3.11-slim"]
    (user,) = instructions("USER")
    assert user not in {"root", "0"} and not user.startswith("0:")
    runs = " && ".join(instructions("RUN"))
    assert "pip install -r /tmp/requirements.txt" in runs and "pip install --no-deps /src" in runs
    assert "useradd --system --user-group --uid 10001 --home-dir /var/lib/walletpass" in runs and user == "walletpass"
    for args in instructions("COPY"):
        *sources, _dest = args.split()
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
    env = image_env()
    volumes = exec_form(instructions("VOLUME")[0])
    assert volumes == [env["WALLETPASS_INSTANCE"], env["WALLETPASS_CERTS_DIR"]]
    Settings.from_env({k: v for k, v in env.items() if k.startswith(PREFIX)})  # the image's settings are valid
    (health,) = instructions("HEALTHCHECK")
    test = exec_form(health.split("CMD", 1)[1].strip())
    assert test[:2] == ["python", "-c"] and "http://127.0.0.1:8000/healthz" in test[2]
    compile(test[2], "HEALTHCHECK", "exec")
    assert instructions("EXPOSE") == ["8000"]
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "instance", "certs", ".git"} <= set(ignored)  # no keys or local data in the build context


COMPOSE_DEFAULTS = re.compile(r"\$\{(\w+):-([^}]*)\}")


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def interpolated(value: str) -> str:
    """A compose value with the defaults of its ``${VAR:-default}``s, as with an empty .env."""
    assert "$" not in COMPOSE_DEFAULTS.sub("", value), f"only ${{VAR:-default}} is used here: {value}"
    return COMPOSE_DEFAULTS.sub(lambda m: m[2], value)


def test_compose_runs_web_worker_postgres_and_redis() -> None:
    doc = compose()
    services = doc["services"]
    assert set(services) == {"postgres", "redis", "init", "web", "worker"}
    assert services["postgres"]["image"] == "postgres:16" and services["redis"]["image"] == "redis:7"
    pg = {k: interpolated(v) for k, v in services["postgres"]["environment"].items()}
    env = image_env()
    for name in ("init", "web", "worker"):
        svc = services[name]
        assert svc["build"] == "." and svc["image"] == "walletpass:latest", name
        settings_env = {k: interpolated(v) for k, v in svc["environment"].items()}
        assert {k.removeprefix(PREFIX) for k in settings_env} <= set(ENV_VARS), f"{name}: unknown WALLETPASS_ name"
        s = Settings.from_env({**env, **settings_env})
        assert s.database_url == f"postgresql://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@postgres:5432/" \
                                 f"{pg['POSTGRES_DB']}", name
        assert s.broker_url == "redis://redis:6379/0" and not s.embedded_worker, name
        mounts = dict(reversed(v.split(":")) for v in svc["volumes"])
        assert mounts == {env["WALLETPASS_INSTANCE"]: "instance", env["WALLETPASS_CERTS_DIR"]: "certs"}, name
        assert set(mounts.values()) <= set(doc["volumes"])
    assert parse_cli(services["init"]["command"]).command.name == "init"
    assert services["init"]["restart"] == "no"
    web = parse_cli(services["web"]["command"])
    assert web.command.name == "serve" and web.params["host"] == "0.0.0.0" and web.params["port"] == 8000
    assert services["web"]["ports"] == ["127.0.0.1:8000:8000"]
    worker = parse_cli(services["worker"]["command"])
    assert worker.command.name == "worker" and worker.params["metrics_port"] == 9108


def test_compose_starts_in_order_and_checks_health() -> None:
    services = compose()["services"]
    assert services["init"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("web", "worker"):
        assert services[name]["depends_on"] == {"init": {"condition": "service_completed_successfully"},
                                                "postgres": {"condition": "service_healthy"},
                                                "redis": {"condition": "service_healthy"}}, name
    assert services["init"]["healthcheck"] == {"disable": True}  # the image's /healthz probe is the web's
    assert services["postgres"]["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    probes = {"web": "http://127.0.0.1:8000/healthz", "worker": "http://127.0.0.1:9108/metrics"}
    for name, url in probes.items():
        test = services[name]["healthcheck"]["test"]
        assert test[:3] == ["CMD", "python", "-c"] and url in test[3], name
        compile(test[3], f"{name} healthcheck", "exec")


@pytest.mark.skipif(shutil.which("docker") is None or subprocess.run(
    ["docker", "compose", "version"], capture_output=True).returncode != 0,
    reason="the docker compose plugin is not installed: compose.yaml is checked with PyYAML only")
def test_docker_compose_accepts_the_file() -> None:
    done = subprocess.run(["docker", "compose", "-f", str(ROOT / "compose.yaml"), "config", "--quiet"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
