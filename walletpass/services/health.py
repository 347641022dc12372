"""Health report for /healthz: database, certificate expiry, worker lag, APNs credential state.

/healthz is the load balancer's probe of a web process, so its HTTP status answers one question: can this
process serve requests? Only an unreachable database makes it say no (503, report ``status: failing``); taking a
web process out of rotation would not fix anything else. Everything that needs the operator but leaves the web
service answering — APNs refusing the certificate (403), a certificate expiring or expired, the job worker
lagging, the development stand-in certificate in use outside the demo (a base URL that is not loopback) — is a
``degraded`` check with a detail saying what to do, and the report's ``status`` is ``degraded`` (HTTP 200). Each check is ``{"status": "ok" | "degraded" | "failing", "detail": "…", …facts}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from walletpass.config import Settings
from walletpass.devpki import STAND_IN_ORG
from walletpass.domain.jobs import FAILING_ATTEMPTS
from walletpass.ports import UnitOfWork
from walletpass.push.policy import PushState

OK, DEGRADED, FAILING = "ok", "degraded", "failing"
#: A certificate closer than this to its end is reported, so the operator has time to renew it.
EXPIRY_WARNING_DAYS = 30
#: Outbox jobs older than this mean the job worker does not keep up (or does not run).
MAX_LAG_SECONDS = 300


def _load(path: Path) -> tuple[x509.Certificate | None, str | None]:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes()), None
    except FileNotFoundError:
        return None, f"missing {path.name}"
    except ValueError:
        return None, f"unreadable certificate {path.name}"


def _is_stand_in(cert: x509.Certificate) -> bool:
    return any(a.value == STAND_IN_ORG for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))


def _certificate_check(path: Path, now: datetime, demo: bool = True) -> dict[str, Any]:
    """*demo*: a loopback base URL (no phone reaches the instance), where the dev stand-in is expected."""
    cert, problem = _load(path)
    days = None if cert is None else (cert.not_valid_after_utc - now).days
    if cert is not None and _is_stand_in(cert) and not demo:
        return {"status": DEGRADED, "days_left": days, "stand_in": True,
                "detail": "the development stand-in certificate made by `walletpass init`: an iPhone refuses every "
                          "pass signed with it and APNs refuses its pushes; import your Pass Type ID certificate "
                          "(walletpass certs import-p12) and Apple's WWDR G4 (WALLETPASS_WWDR_CERT_FILE)"}
    if problem is not None or days is None:
        return {"status": DEGRADED, "detail": f"{problem}: passes cannot be signed nor pushes sent for this "
                                              f"pass type; put its certificate at {path}"}
    if days < 0:
        return {"status": DEGRADED, "days_left": days,
                "detail": f"expired {-days} day(s) ago: Wallet refuses passes signed with it and APNs refuses "
                          f"its pushes; renew it and replace {path.name} and its key"}
    if days < EXPIRY_WARNING_DAYS:
        return {"status": DEGRADED, "days_left": days,
                "detail": f"expires in {days} day(s): renew it and replace {path.name} and its key "
                          "(no restart needed for pushes)"}
    return {"status": OK, "days_left": days, "detail": f"valid for {days} more days"}


def _worker_check(backlog: int, oldest: datetime | None, now: datetime, failing: int = 0) -> dict[str, Any]:
    """*oldest* is when the job that has waited longest for a worker became due: jobs waiting out a backoff
    are not lag (they show as failing when retried often), and parked jobs wait for nobody."""
    lag = max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
    check: dict[str, Any] = {"status": OK, "outbox_backlog": backlog, "lag_seconds": round(lag, 1),
                             "failing_jobs": failing,
                             "detail": f"{backlog} job(s) in the outbox; the longest-due has waited {lag:.0f} s"}
    if lag >= MAX_LAG_SECONDS:
        check["status"] = DEGRADED
        check["detail"] = (f"an outbox job has waited {lag:.0f} s for a worker ({backlog} in all): is a job "
                           "worker running (embedded in `walletpass serve`, or `walletpass worker`)?")
    if failing:
        check["status"] = DEGRADED
        check["detail"] += (f"; {failing} job(s) tried {FAILING_ATTEMPTS} times or more and still not done: they "
                            "are retried (at most hourly) until delivered, see outbox.last_error for why")
    return check


_APNS_CERT_FIX = "the pass type certificate and key (replace the files)"
_APNS_TOKEN_FIX = ("the APNs key: WALLETPASS_APNS_KEY_FILE (.p8), WALLETPASS_APNS_KEY_ID and the team id "
                   "(WALLETPASS_APNS_TEAM_ID / WALLETPASS_TEAM_ID) must be one key of the team that owns the pass type")


def _apns_check(state: PushState | None, token_auth: bool = False) -> dict[str, Any]:
    if state is None:
        return {"status": OK, "detail": "no push sent yet"}
    if state.forbidden_at is not None:
        return {"status": DEGRADED, "forbidden_reason": state.forbidden_reason,
                "forbidden_at": state.forbidden_at.isoformat(),
                "detail": f"APNs answered 403 {state.forbidden_reason} at {state.forbidden_at.isoformat()}: fix "
                          f"{_APNS_TOKEN_FIX if token_auth else _APNS_CERT_FIX}; pushes for this pass type are "
                          "parked and retried, and this clears at the next accepted push"}
    check: dict[str, Any] = {"status": OK, "detail": "APNs accepts this " + ("provider token" if token_auth
                                                                               else "certificate")}
    if state.ok_at is not None:
        check["ok_at"] = state.ok_at.isoformat()
    return check


@dataclass(frozen=True, slots=True)
class Health:
    """The report: can this process serve (False only when the database is unreachable), the overall status
    (``ok``, ``degraded``, ``failing``) and each check (``{"status": …, "detail": "…", …facts}``)."""

    serving: bool
    status: str
    checks: Mapping[str, Mapping[str, Any]]


def health(uow: UnitOfWork, settings: Settings, now: datetime,
           push_states: Callable[[], Mapping[str, PushState]] | None = None) -> Health:
    """Check the database, the worker, each certificate and what APNs last said of each pass type."""
    checks: dict[str, dict[str, Any]] = {}
    serving = True
    states: Mapping[str, PushState] | None = None
    try:
        with uow:
            backlog = uow.outbox.backlog()
            oldest = uow.outbox.oldest_due(now)
            failing = uow.outbox.failing(FAILING_ATTEMPTS)
        states = push_states() if push_states is not None else None
        checks["database"] = {"status": OK, "detail": "reachable"}
        checks["worker"] = _worker_check(backlog, oldest, now, failing)
    except Exception as exc:  # noqa: BLE001 - any failure here means "database down" to the prober
        serving = False
        checks["database"] = {"status": FAILING, "detail": f"unreachable ({type(exc).__name__}): check "
                                                           "WALLETPASS_DATABASE_URL and the database server"}
    for ptid in settings.pass_type_ids:
        checks[f"certificate:{ptid}"] = _certificate_check(settings.cert_path(ptid), now,
                                                           demo=settings.base_url_is_loopback)
    if states is not None:
        for ptid in settings.pass_type_ids:
            checks[f"apns:{ptid}"] = _apns_check(states.get(ptid), settings.apns_key_file is not None)
    if not serving:
        status = FAILING
    elif any(c["status"] != OK for c in checks.values()):
        status = DEGRADED
    else:
        status = OK
    return Health(serving, status, checks)
