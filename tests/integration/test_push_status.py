"""APNs 403 state shared by every process (push_status table), /healthz semantics, and certificate renewal.

Two Services built on one database stand for two processes (a gunicorn worker and a `walletpass worker`): each
has its own ApnsClient, Worker and Flask app; only the database is shared — as in production.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from sqlalchemy import text

from api import create_app
from tests.builders import make_member, make_program
from tests.fakes.apns_server import FakeApns
from tests.helpers import Device, auth_token_of, renew_identity
from tests.pki import MEMBER_PTID
from tests.pki import TestPki as Pki
from walletpass.bootstrap import Services, bootstrap
from walletpass.config import Settings
from walletpass.jobs.worker import Worker
from walletpass.ports import FixedClock
from walletpass.push.policy import FORBIDDEN_PARK
from walletpass.services.points import add_transaction


@pytest.fixture
def apns(pki: Pki) -> Iterator[FakeApns]:
    with FakeApns(pki) as fake:
        yield fake


@pytest.fixture
def settings(tmp_path: Path, pki: Pki, db_url: str, apns: FakeApns) -> Settings:
    certs = tmp_path / "certs"
    shutil.copytree(pki.certs_dir, certs)  # this test's own certificate files: the renewal test replaces them
    return Settings.for_tests(tmp_path, database_url=db_url, certs_dir=certs, apns_url=apns.url,
                              apns_ca_file=pki.tls_ca_file)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime.now(UTC))


@pytest.fixture
def web(settings: Settings, clock: FixedClock) -> Iterator[Services]:
    """The web process: serves /v1 and /healthz."""
    svc = bootstrap(settings, clock=clock)
    yield svc
    svc.close()


@pytest.fixture
def pusher(settings: Settings, clock: FixedClock) -> Iterator[Services]:
    """Another process that delivers pushes (`walletpass worker`)."""
    svc = bootstrap(settings, clock=clock)
    yield svc
    svc.close()


def registered_phone(web: Services) -> tuple[Device, dict]:  # type: ignore[type-arg]
    client = create_app(services=web).test_client()
    member = make_member(web, make_program(web))
    phone = Device(client, MEMBER_PTID)
    assert phone.register(member["serial_number"], auth_token_of(client, member)).status_code == 201
    return phone, member


def bump(svc: Services, member: dict) -> None:  # type: ignore[type-arg]
    add_transaction(svc.uow(), svc.clock, svc.settings, member["id"], 1, "bump")


def healthz(svc: Services):  # type: ignore[no-untyped-def]
    return create_app(services=svc).test_client().get("/healthz")


def test_a_403_in_one_process_shows_in_another_process_healthz_as_degraded(web, pusher, apns) -> None:  # type: ignore[no-untyped-def]
    phone, member = registered_phone(web)
    apns.script(phone.token, [(403, "BadCertificate")])
    bump(web, member)

    assert Worker(pusher).run_once() == 1

    health = healthz(web)
    assert health.status_code == 200                    # the web process can still serve
    assert health.json["status"] == "degraded"
    check = health.json["checks"][f"apns:{MEMBER_PTID}"]
    assert check["status"] == "degraded" and check["forbidden_reason"] == "BadCertificate"
    assert "403 BadCertificate" in check["detail"] and "certificate" in check["detail"]
    assert health.json["checks"]["database"]["status"] == "ok"
    with web.engine.connect() as conn:
        row = conn.execute(text("SELECT forbidden_reason, forbidden_at FROM push_status WHERE topic = :t"),
                           {"t": MEMBER_PTID}).one()
    assert row.forbidden_reason == "BadCertificate" and row.forbidden_at is not None


def test_a_403_seen_by_one_process_parks_the_jobs_of_another(web, pusher, apns) -> None:  # type: ignore[no-untyped-def]
    phone, member = registered_phone(web)
    apns.script(phone.token, [403] * 10)
    bump(web, member)
    assert Worker(pusher).run_once() == 1
    assert len(apns.requests_for(phone.token)) == 1

    bump(web, member)                       # a new change, delivered by the other process's worker
    assert Worker(web).run_once() == 1
    assert len(apns.requests_for(phone.token)) == 1     # parked without sending: the 403 is shared
    with web.engine.connect() as conn:
        errors = conn.execute(text("SELECT last_error FROM outbox")).scalars().all()
    assert errors and all("403 BadCertificate" in e for e in errors)


def test_a_renewed_certificate_delivers_the_parked_job_and_clears_healthz(web, pusher, apns, pki, settings,  # type: ignore[no-untyped-def]
                                                                         clock) -> None:
    phone, member = registered_phone(web)
    cert, key = settings.cert_path(MEMBER_PTID), settings.key_path(MEMBER_PTID)
    apns.refuse_certificate(cert)           # Apple revoked the certificate
    bump(web, member)
    worker = Worker(pusher)
    assert worker.run_once() == 1
    assert [p.status for p in apns.requests_for(phone.token)] == [403]
    assert healthz(web).json["checks"][f"apns:{MEMBER_PTID}"]["status"] == "degraded"

    renew_identity(pki, cert, key)          # the operator puts a new certificate and key in place; no restart
    assert worker.run_once() == 0           # the job stays parked until its window has passed
    clock.advance(seconds=FORBIDDEN_PARK.total_seconds() + 1)
    assert worker.run_once() == 1

    assert [(p.status, p.connection) for p in apns.requests_for(phone.token)] == [(403, 1), (200, 2)]
    with web.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM outbox")).scalar_one() == 0
    health = healthz(web)
    assert health.status_code == 200 and health.json["status"] == "ok", health.json
    check = health.json["checks"][f"apns:{MEMBER_PTID}"]
    assert check["status"] == "ok" and "forbidden_reason" not in check and check["ok_at"]


def test_healthz_is_503_only_when_the_database_is_unreachable(tmp_path, pki) -> None:  # type: ignore[no-untyped-def]
    settings = Settings.for_tests(tmp_path, certs_dir=pki.certs_dir,
                                  database_url=f"sqlite:///{tmp_path / 'no-such-dir' / 'walletpass.db'}")
    svc = bootstrap(settings)
    try:
        health = healthz(svc)
    finally:
        svc.close()
    assert health.status_code == 503
    assert health.json["status"] == "failing"
    assert health.json["checks"]["database"]["status"] == "failing"
    assert "WALLETPASS_DATABASE_URL" in health.json["checks"]["database"]["detail"]


def test_an_expiring_certificate_is_degraded_not_down(web, clock, settings) -> None:  # type: ignore[no-untyped-def]
    ok = healthz(web)
    assert ok.status_code == 200 and ok.json["status"] == "ok", ok.json
    assert all(c["status"] == "ok" and c["detail"] for c in ok.json["checks"].values())

    not_after = x509.load_pem_x509_certificate(settings.cert_path(MEMBER_PTID).read_bytes()).not_valid_after_utc
    clock.advance(seconds=(not_after - timedelta(days=10) - clock.now()).total_seconds())
    expiring = healthz(web)
    assert expiring.status_code == 200 and expiring.json["status"] == "degraded"
    check = expiring.json["checks"][f"certificate:{MEMBER_PTID}"]
    assert check["status"] == "degraded" and "expires in" in check["detail"]

    clock.advance(days=12)
    expired = healthz(web)
    assert expired.status_code == 200 and expired.json["status"] == "degraded"
    assert "expired" in expired.json["checks"][f"certificate:{MEMBER_PTID}"]["detail"]
