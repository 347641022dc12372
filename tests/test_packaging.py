"""Packaging: declared dependencies vs the locks, version, license, typing marker, and the README's file references.

The locks are checked against the metadata of the installed distributions (pipdeptree's reasoning): the runtime
lock must be exactly what the declared dependencies pull in, so nothing a test needs hides in it and nothing
walletpass needs is missing from `pip install .`.
"""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, distribution, version
from pathlib import Path

from click.testing import CliRunner
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import walletpass
from api.cli import main

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
#: Tools of the test and lint runs: never in the runtime lock.
DEV_TOOLS = {"pytest", "pytest-xdist", "hypothesis", "schemathesis", "import-linter", "ruff", "mypy"}


def pins(path: Path) -> dict[str, str]:
    """name → pinned version of a requirements file (``-r`` lines and comments skipped)."""
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        req = Requirement(line)
        (spec,) = req.specifier
        assert spec.operator == "==", f"{path.name}: {line} is not an exact pin"
        found[canonicalize_name(req.name)] = spec.version
    return found


def closure(requirements: list[str]) -> set[str]:
    """The distributions *requirements* pull in, from the installed metadata (markers and extras honoured)."""
    seen: dict[str, set[str]] = {}
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen and set(req.extras) <= seen[name]:
            continue
        extras = seen.setdefault(name, set())
        extras.update(req.extras)
        for raw in distribution(name).requires or []:
            dep = Requirement(raw)
            if dep.marker is None or any(dep.marker.evaluate({"extra": e}) for e in ("", *extras)):
                todo.append(dep)
    return set(seen)


def test_runtime_lock_is_exactly_what_the_declared_dependencies_need() -> None:
    lock = pins(ROOT / "requirements.txt")
    needed = closure(PROJECT["dependencies"])
    assert needed - set(lock) == set(), "pulled in by [project].dependencies but not pinned in requirements.txt"
    assert set(lock) - needed == set(), "pinned in requirements.txt but not needed at run time: requirements-dev.txt"
    assert not DEV_TOOLS & set(lock)
    for raw in PROJECT["dependencies"]:
        req = Requirement(raw)
        assert req.specifier.contains(lock[canonicalize_name(req.name)]), f"requirements.txt pin outside {raw}"


def test_dev_lock_adds_the_tools_and_only_what_they_need() -> None:
    text = (ROOT / "requirements-dev.txt").read_text()
    assert re.search(r"^-r requirements\.txt$", text, re.M)
    runtime, dev = pins(ROOT / "requirements.txt"), pins(ROOT / "requirements-dev.txt")
    extra = PROJECT["optional-dependencies"]["dev"]
    assert {canonicalize_name(Requirement(r).name) for r in extra} >= DEV_TOOLS
    assert set(dev) == closure(extra) - set(runtime)
    for raw in extra:
        req = Requirement(raw)
        assert req.specifier.contains(dev[canonicalize_name(req.name)]), f"requirements-dev.txt pin outside {raw}"


def test_the_installed_versions_are_the_pinned_ones() -> None:
    """The environment the suite runs in is the lock (`make test` installs it), so the checks above mean something."""
    wrong = {}
    for name, pinned in {**pins(ROOT / "requirements.txt"), **pins(ROOT / "requirements-dev.txt")}.items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            installed = "missing"
        if installed != pinned:
            wrong[name] = (pinned, installed)
    assert wrong == {}


def test_version_is_one_and_the_cli_prints_it() -> None:
    assert version("walletpass") == walletpass.__version__
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and result.output == f"walletpass {walletpass.__version__}\n"


def test_license_file_and_typing_markers() -> None:
    assert PROJECT["license"] == "Apache-2.0" and PROJECT["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.split()[:4] == ["Apache", "License", "Version", "2.0,"] and "END OF TERMS AND CONDITIONS" in text
    assert (ROOT / "walletpass" / "py.typed").is_file() and (ROOT / "api" / "py.typed").is_file()
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "py.typed" in data["walletpass"] and "py.typed" in data["api"]
    assert PROJECT["scripts"] == {"walletpass": "api.cli:main"}


#: Paths the README names that walletpass or the operator creates: never in the repository.
MADE_AT_RUN_TIME = {"certs/dev", "./instance", "./certs/dev", ".env", "my-templates", "build/screenshots/"}


def test_readme_cites_only_files_in_the_repository() -> None:
    text = (ROOT / "README.md").read_text()
    cited = set(re.findall(r"\]\(([^)#]+)\)", text))  # markdown links
    for code in re.findall(r"`([^`\n]+)`", text):
        for word in code.split():
            word = word.strip("\"',;:()")
            if re.fullmatch(r"\.?[\w.-]+(/[\w.-]*)+|[\w.-]+\.(md|py|toml|txt|yaml|yml)|Dockerfile|LICENSE|Makefile", word):
                cited.add(word)
    media_types = ("application/", "text/", "image/", "multipart/")  # `text/csv` is a Content-Type, not a path
    cited = {c for c in cited if not c.startswith(("http", "/", "<", *media_types)) and "://" not in c
             and "…" not in c}
    assert "compose.yaml" in cited and "walletpass/templates/passes/" in cited  # the pattern finds what it must
    missing = sorted(c for c in cited - MADE_AT_RUN_TIME if not (ROOT / c).exists())
    assert missing == []
