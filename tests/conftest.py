"""Shared fixtures. DB/app fixtures live in tests/fixtures_db.py (imported below)."""

from __future__ import annotations

import os

import pytest

from tests.pki import TestPki, make_test_pki


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees another's WALLETPASS_* settings (the test URLs stay readable)."""
    for name in list(os.environ):
        if name.startswith("WALLETPASS_") and not name.startswith("WALLETPASS_TEST_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    """The dev PKI (walletpass.devpki) and a TLS CA for fake servers, made once per session."""
    return make_test_pki(tmp_path_factory.mktemp("pki"))
