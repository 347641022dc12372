"""The instance secret file: processes that start together on a fresh instance all read the one key (API keys
are hashed with it). Before the file was linked into place, about one round in ten here had a process fail
with FileExistsError or read an empty key."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from walletpass.instance import load_secret_key

PROCESSES, ROUNDS = 12, 20
pytestmark = pytest.mark.slow


def _load(instance: Path, barrier: Any, out: Any) -> None:
    barrier.wait()
    try:
        out.put(load_secret_key(instance))
    except Exception as exc:  # noqa: BLE001 - reported to the test
        out.put(f"error: {type(exc).__name__}: {exc}")


def test_processes_starting_together_agree_on_one_secret(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    for n in range(ROUNDS):
        instance = tmp_path / f"instance{n}"
        barrier, out = ctx.Barrier(PROCESSES), ctx.Queue()
        procs = [ctx.Process(target=_load, args=(instance, barrier, out)) for _ in range(PROCESSES)]
        for p in procs:
            p.start()
        keys = [out.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(timeout=60)
        assert len(set(keys)) == 1 and len(keys[0]) >= 64, set(keys)
        assert load_secret_key(instance) == keys[0]
        assert [f.name for f in instance.iterdir()] == ["secret_key"]  # no temporary file left
        assert (instance / "secret_key").stat().st_mode & 0o777 == 0o600
