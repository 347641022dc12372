"""Shared fixtures: env isolation, PKI, settings/services/app on SQLite and PostgreSQL, API keys."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from tests.fakes.apns_server import FakeApns
from tests.fakes.google_server import FakeGoogle
from tests.helpers import CALLBACK_ROOT, ISSUER, b64, der, ms
from tests.pki import TestPki, make_test_pki
from walletpass.bootstrap import Services, bootstrap
from walletpass.config import Settings
from walletpass.ports import Clock, SystemClock
from walletpass.storage.db import make_engine, upgrade
from walletpass.storage.tables import Base

PG_URL = os.environ.get("WALLETPASS_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("WALLETPASS_TEST_REDIS_URL", "")


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


@pytest.fixture(scope="session")
def pg_url(worker_id: str) -> Iterator[str]:
    """A migrated PostgreSQL database of this xdist worker's own (skipped when not configured).

    Named after this test run too (pytest's process, or xdist's run id), so two suites on one machine — two
    developers, or CI beside a local run — never truncate each other's tables; dropped at the end.
    """
    with scratch_pg_database(worker_id) as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


@contextmanager
def scratch_pg_database(worker_id: str, purpose: str = "") -> Iterator[str]:
    """An empty PostgreSQL database of this run and worker (and *purpose*), dropped on exit; skip when not set."""
    if not PG_URL:
        pytest.skip("WALLETPASS_TEST_DATABASE_URL is not set: PostgreSQL tests skipped")
    base = make_url(PG_URL)
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", f"p{os.getpid()}")[:8]
    name = f"{base.database}_wp_{purpose}{run}_{worker_id}"
    admin = create_engine(base.set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path, worker_id: str) -> Iterator[Engine]:
    """An engine on an empty database nobody else uses (a SQLite file, or a scratch PostgreSQL database): for
    tests of the migrations themselves."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
        yield engine
        engine.dispose()
        return
    with scratch_pg_database(worker_id, "empty_") as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


def _truncate(url: str) -> None:
    engine = make_engine(url)
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        conn.execute(text("INSERT INTO counters (name, value) VALUES ('pass_tag', 0)"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated database: a SQLite file per test, or the worker's PostgreSQL database truncated."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'instance' / 'walletpass.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        return url
    url = request.getfixturevalue("pg_url")
    _truncate(url)
    return url


@pytest.fixture
def apns(pki: TestPki) -> Iterator[FakeApns]:
    """The APNs stand-in (HTTP/2, TLS, demands the pass type certificate); ``settings`` points at it."""
    with FakeApns(pki) as fake:
        yield fake


@pytest.fixture
def google(pki: TestPki) -> Iterator[FakeGoogle]:
    """The Google Wallet stand-in (OAuth, discovery-validated bodies, callback keys); ``settings`` points at it."""
    with FakeGoogle(pki.certs_dir / "google-service-account.json") as server:
        server.set_callback_keys({"keys": [{"keyValue": b64(der(CALLBACK_ROOT)), "protocolVersion": "ECv2SigningOnly",
                                            "keyExpiration": str(ms(datetime.now(UTC) + timedelta(days=30)))}]})
        yield server


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path, pki: TestPki, db_url: str) -> Settings:
    """Settings of a test instance; pointing at the APNs / Google stand-ins when the test uses them (by name, or
    a module's ``pytestmark = pytest.mark.usefixtures("apns")``)."""
    extra: dict[str, object] = {}
    if "apns" in request.fixturenames:
        fake_apns = request.getfixturevalue("apns")
        extra.update(apns_url=fake_apns.url, apns_ca_file=pki.tls_ca_file)
    if "google" in request.fixturenames:
        fake = request.getfixturevalue("google")
        extra.update(google_issuer_id=ISSUER, google_api_url=fake.url, google_token_url=fake.token_url,
                     google_callback_keys_url=fake.keys_url, google_rate_limit=0.0)
    return Settings.for_tests(tmp_path, database_url=db_url, certs_dir=pki.certs_dir, **extra)  # type: ignore[arg-type]


@pytest.fixture
def services_clock() -> Clock:
    """The clock ``services`` (so the app and the worker) runs on: the real one. A module that moves time overrides
    this fixture with a ``FixedClock``."""
    return SystemClock()


@pytest.fixture
def services(settings: Settings, services_clock: Clock) -> Iterator[Services]:
    svc = bootstrap(settings, clock=services_clock)
    yield svc
    svc.close()


@pytest.fixture
def app(services: Services):  # type: ignore[no-untyped-def]
    from api import create_app

    app = create_app(services=services)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture
def api_key(services: Services) -> str:
    from walletpass.services.api_keys import create_api_key

    return create_api_key(services.uow(), services.clock, services.api_keys.hasher, "test admin", ["admin"])


@pytest.fixture
def auth(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


try:  # pytest-xdist provides worker_id; without it, one worker called "master"
    import xdist  # noqa: F401
except ImportError:  # pragma: no cover
    @pytest.fixture(scope="session")
    def worker_id() -> str:
        return "master"


@pytest.fixture
def redis_url() -> str:
    if not REDIS_URL:
        pytest.skip("WALLETPASS_TEST_REDIS_URL is not set: broker-mode tests skipped")
    return REDIS_URL


@pytest.fixture
def queue(redis_url: str, worker_id: str) -> Iterator[str]:
    """A queue of this test's own; its Redis keys (and messages a killed worker left unacked) go afterwards."""
    import json

    import redis

    name = f"wp-test-{worker_id}-{uuid.uuid4().hex[:12]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    client.delete(name, f"_kombu.binding.{name}", f"_kombu.binding_permanent.{name}")
    for tag, value in client.hgetall("unacked").items():  # kombu's [message, exchange, routing key]
        if json.loads(value)[2] == name:
            client.hdel("unacked", tag)
            client.zrem("unacked_index", tag)
    client.close()
