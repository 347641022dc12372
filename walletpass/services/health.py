"""Health report: database, certificate expiry, worker lag, APNs credential state."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from walletpass.config import Settings
from walletpass.storage.uow import SqlUnitOfWork


def certificate_days_left(path: Path, now: datetime) -> tuple[int | None, str | None]:
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError:
        return None, f"missing {path.name}"
    except ValueError:
        return None, f"unreadable certificate {path.name}"
    return (cert.not_valid_after_utc - now).days, None


def health(uow: SqlUnitOfWork, settings: Settings, now: datetime,
           extra_checks: dict[str, dict[str, Any]] | None = None) -> tuple[bool, dict[str, Any]]:
    """(healthy, report). Unhealthy when the database is down or a pass certificate is missing/expired."""
    report: dict[str, Any] = {"status": "ok", "checks": {}}
    ok = True
    try:
        with uow:
            backlog = uow.outbox_backlog()
            oldest = uow.oldest_outbox()
        lag = max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
        report["checks"]["database"] = {"status": "ok"}
        report["checks"]["worker"] = {"status": "ok" if lag < 300 else "lagging", "outbox_backlog": backlog,
                                      "lag_seconds": round(lag, 1)}
    except Exception as exc:  # noqa: BLE001 - any failure here means "database down" to the prober
        ok = False
        report["checks"]["database"] = {"status": "down", "detail": type(exc).__name__}
    certs = {}
    for ptid in settings.pass_type_ids:
        days, problem = certificate_days_left(settings.cert_path(ptid), now)
        if problem or days is None or days < 0:
            ok = False
            certs[ptid] = {"status": "error", "detail": problem or "expired"}
        else:
            certs[ptid] = {"status": "ok" if days >= 30 else "expiring", "days_left": days}
    report["checks"]["certificates"] = certs
    for name, check in (extra_checks or {}).items():
        report["checks"][name] = check
        if check.get("status") == "error":
            ok = False
    report["status"] = "ok" if ok else "error"
    return ok, report
