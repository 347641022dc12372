"""Layering (STYLE.md §4, house rule 1): the import-linter contracts in pyproject.toml hold."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# lint-imports exits 1 and prints which import chain breaks which contract; run it as the console script does.
LINT_IMPORTS = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def _contracts() -> dict[str, dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert config.get("include_external_packages") is True, "external forbidden modules need include_external_packages"
    return {c["name"]: c for c in config["contracts"]}


def test_import_contracts_are_kept() -> None:
    done = subprocess.run([sys.executable, "-c", LINT_IMPORTS, "--no-cache", "--no-logo"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        pytest.fail(f"import-linter contracts broken:\n{done.stdout}\n{done.stderr}", pytrace=False)


def test_core_contracts_are_not_weakened() -> None:
    contracts = _contracts()
    core = contracts["core never imports the shell (Flask, CLI, server)"]
    assert core["source_modules"] == ["walletpass"]
    assert {"flask", "werkzeug", "click", "gunicorn", "api"} <= set(core["forbidden_modules"])
    domain = contracts["domain is pure: no I/O library, no adapter"]
    assert domain["source_modules"] == ["walletpass.domain"]
    assert {"sqlalchemy", "httpx", "requests", "pycurl", "google", "celery", "redis"} <= set(domain["forbidden_modules"])
    assert not any(c.get("allow_indirect_imports") for c in (core, domain))


def test_services_and_providers_stay_off_storage_and_nothing_cycles() -> None:
    contracts = _contracts()
    ports = contracts["services and wallet providers reach storage only through the ports"]
    assert {"walletpass.services", "walletpass.apple", "walletpass.google.provider"} <= set(ports["source_modules"])
    assert "walletpass.storage" in ports["forbidden_modules"] and not ports.get("allow_indirect_imports")
    cycles = contracts["no import cycles between the packages and modules of walletpass and api"]
    assert cycles["type"] == "acyclic_siblings" and set(cycles["ancestors"]) == {"walletpass", "api"}
    assert not cycles.get("ignore_imports")
