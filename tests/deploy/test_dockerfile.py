"""The cloud's Dockerfile, read with dockerfile-parse (a real Dockerfile parser), checked against the repository:
what it copies exists and is every package pyproject installs, it runs as a user, its health check asks a route
the app serves, and the port agrees with the compose file. Also what the build context leaves out, and that the
compose file's `dorpskluis` commands parse against the real command line."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from urllib.parse import urlparse

import pytest
import typer
import yaml
from dockerfile_parse import DockerfileParser

from cloud.app import create_app
from cloud.settings import Settings
from dorpskluis.cli import app as cli_app

ROOT = Path(__file__).resolve().parents[2]


def instructions(name: str) -> list[str]:
    parsed = DockerfileParser(path=str(ROOT / "Dockerfile"))
    return [item["value"] for item in parsed.structure if item["instruction"] == name]


def compose_services() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def test_the_image_is_python_3_11_on_bookworm_like_the_pi():
    parsed = DockerfileParser(path=str(ROOT / "Dockerfile"))
    assert parsed.baseimage == "python:3.11-slim-bookworm"
    assert len(instructions("FROM")) == 1


def test_what_it_copies_exists_and_is_every_package_pyproject_installs():
    copied: set[str] = set()
    for value in instructions("COPY"):
        *sources, _target = shlex.split(value)
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
            copied.add(source)
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {pattern.rstrip("*") for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages <= copied, f"`pip install .` in the image would miss {packages - copied}"
    assert {"pyproject.toml", "README.md"} <= copied  # the build reads both


def test_it_runs_as_a_user_and_not_as_root():
    parsed = DockerfileParser(path=str(ROOT / "Dockerfile"))
    order = [item["instruction"] for item in parsed.structure]
    users = instructions("USER")
    assert users and users[-1] not in ("root", "0")
    assert max(i for i, name in enumerate(order) if name == "USER") > max(
        i for i, name in enumerate(order) if name == "RUN"
    ), "USER comes after the last RUN"


def test_the_health_check_asks_a_route_the_cloud_serves_on_its_port(tmp_path):
    (check,) = instructions("HEALTHCHECK")
    (url,) = re.findall(r"https?://[^'\"\s)]+", check)
    parsed = DockerfileParser(path=str(ROOT / "Dockerfile"))
    port = parsed.envs["DK_HTTP_PORT"]
    assert urlparse(url).port == int(port)
    served = create_app(Settings(data_dir=tmp_path)).openapi()["paths"]
    assert "get" in served[urlparse(url).path]
    assert instructions("EXPOSE") == [port]
    assert f"{port}:{port}" in compose_services()["cloud"]["ports"]
    assert DockerfileParser(path=str(ROOT / "Dockerfile")).cmd == '["python", "-m", "cloud"]'
    assert (ROOT / "cloud" / "__main__.py").is_file()


@pytest.mark.parametrize("entry", [".env", "secrets", ".venv", ".git", "data"])
def test_the_build_context_leaves_out_secrets_and_local_clutter(entry):
    ignored = {line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert entry in ignored


def _compose_commands() -> list[tuple[str, list[str]]]:
    found = []
    for name, service in compose_services().items():
        command = service.get("command")
        if isinstance(command, list) and command[0] == "dorpskluis":
            found.append((name, command[1:]))
        test = service.get("healthcheck", {}).get("test", [])
        if test[:2] == ["CMD", "dorpskluis"]:
            found.append((f"{name} healthcheck", test[2:]))
    return found


def _defaults(argument: str) -> str:
    """${NAME:-default} as compose fills it in when NAME is unset."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", argument)


@pytest.mark.parametrize(("service", "argv"), _compose_commands(), ids=lambda v: v if isinstance(v, str) else "")
def test_the_compose_files_dorpskluis_commands_parse_against_the_real_command_line(service, argv):
    node, args, name = typer.main.get_command(cli_app), [_defaults(argument) for argument in argv], "dorpskluis"
    while hasattr(node, "commands"):  # a group: dorpskluis -> sim -> fleet
        name, *args = args
        assert name in node.commands, f"{service}: no command {name!r}"
        node = node.commands[name]
    # DK_ADMIN_KEY comes from the service's environment; parsing must not fail for want of it here.
    context = node.make_context(name, args, default_map={"admin_key": "from-the-environment"})
    assert not context.args, f"{service}: left over {context.args}"
