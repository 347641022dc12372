"""What a new user does: `pip install .` into a fresh virtualenv, then `walletpass init` and `walletpass pass build`
in an empty folder — with nothing from the checkout but the installed package.

The wheel is built from a copy of the source (no stale build/ folder can leak into it) and installed with pip as
this machine is set up (its index and local mirrors), constrained by requirements.txt so the versions are the
tested ones; only the dependencies declared in pyproject.toml are installed, so a missing one fails here. The
install takes one to two minutes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.helpers import verify_with_openssl
from walletpass import __version__

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

SOURCE_ONLY = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                                     ".hypothesis", "instance", "certs", "tests", "bench")


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
        ) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def test_pip_install_then_init_and_pass_build_in_an_empty_folder(tmp_path: Path) -> None:
    src, dist, venv, site = tmp_path / "src", tmp_path / "dist", tmp_path / "venv", tmp_path / "site"
    shutil.copytree(ROOT, src, ignore=SOURCE_ONLY)
    run([sys.executable, "-m", "venv", str(venv)], tmp_path)
    python = str(venv / "bin" / "python")
    run([python, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(dist), str(src)], tmp_path, timeout=300)

    (wheel,) = dist.glob("walletpass-*.whl")
    with zipfile.ZipFile(wheel) as z:
        shipped = set(z.namelist())
    sources = {p.relative_to(src).as_posix() for top in ("walletpass", "api") for p in (src / top).rglob("*")
               if p.is_file()}
    assert sources - shipped == set(), "files of the package missing from the wheel"
    for needed in ("walletpass/storage/migrations/env.py", "walletpass/storage/migrations/script.py.mako",
                   "walletpass/templates/passes/member-card/template.json", "api/templates/public/pass.html",
                   "walletpass/py.typed", f"walletpass-{__version__}.dist-info/licenses/LICENSE"):
        assert needed in shipped, needed

    # --no-compile: byte-compiling ~60 packages up front is CPU the suite shares; Python compiles what it imports.
    run([python, "-m", "pip", "install", "--no-compile", "--constraint", str(ROOT / "requirements.txt"), str(wheel)],
        tmp_path, timeout=600)
    assert "No broken requirements" in run([python, "-m", "pip", "check"], tmp_path).stdout
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("WALLETPASS_") and k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}}
    tools = run([python, "-c", "import importlib.util as u; print([m for m in ('pytest', 'hypothesis', 'ruff') "
                               "if u.find_spec(m)])"], tmp_path, env)
    assert tools.stdout.strip() == "[]", "test tools came with `pip install .`"

    site.mkdir()
    walletpass = str(venv / "bin" / "walletpass")
    assert run([walletpass, "--version"], site, env).stdout == f"walletpass {__version__}\n"
    key = run([walletpass, "init"], site, env).stdout.strip()
    assert key.startswith("wp_")
    assert (site / "instance" / "walletpass.db").is_file() and (site / "certs" / "dev" / "wwdr-ca.pem").is_file()
    run([walletpass, "pass", "build", "--member", "1", "-o", "demo.pkpass"], site, env)
    verify_with_openssl((site / "demo.pkpass").read_bytes(), site / "certs" / "dev" / "wwdr-ca.pem", tmp_path)

    # Own templates, as the README says: copy a shipped one out of the installed package and change it.
    shipped_dir = run([python, "-c", "from walletpass.pass_templates import TEMPLATES_DIR; print(TEMPLATES_DIR)"],
                      site, env).stdout.strip()
    assert Path(shipped_dir).is_relative_to(venv)
    shutil.copytree(Path(shipped_dir) / "member-card", site / "my-templates" / "member-card")
    strings = site / "my-templates" / "member-card" / "en.lproj" / "pass.strings"
    strings.write_text(strings.read_text(encoding="utf-8").replace('"Program"', '"Our club"'), encoding="utf-8")
    run([walletpass, "pass", "build", "--member", "1", "-o", "own.pkpass"], site,
        {**env, "WALLETPASS_TEMPLATES_DIR": "my-templates"})
    with zipfile.ZipFile(site / "own.pkpass") as z:
        assert '"Our club"' in z.read("en.lproj/pass.strings").decode("utf-16")

    bad = subprocess.run([walletpass, "pass", "build", "--member", "1", "-o", "x.pkpass"], cwd=site,
                         env={**env, "WALLETPASS_TEMPLATES_DIR": "no-such-folder"}, capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "WALLETPASS_TEMPLATES_DIR" in bad.stderr
    assert not (site / "x.pkpass").exists()
