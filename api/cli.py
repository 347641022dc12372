"""The ``walletpass`` command: init, serve, worker, apikey, certs, doctor, pass build, db upgrade, --version.

Errors print one readable line on stderr and exit non-zero; never a stack trace.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from walletpass.config import Settings
from walletpass.domain.programs import Program
from walletpass.errors import ConfigurationError, CredentialError, InvalidInput, WalletpassError

F = TypeVar("F", bound=Callable[..., Any])


def _settings() -> Settings:
    return Settings.from_env(os.environ)


def _friendly(fn: F) -> F:
    """Turn our errors (and unexpected ones) into one line on stderr and an exit code."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except WalletpassError as exc:
            click.echo(f"error: {exc.detail}", err=True)
            sys.exit(2)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001 - last line of defence for the operator
            click.echo(f"error: {type(exc).__name__}: {exc}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def _version() -> str:
    """The installed distribution's version; walletpass.__version__ when run from a checkout not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("walletpass")
    except PackageNotFoundError:
        from walletpass import __version__

        return __version__


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"walletpass {_version()}")
        ctx.exit()


@click.group()
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Print the version and exit.")
def main() -> None:
    """walletpass: Apple Wallet and Google Wallet passes for loyalty programs."""


@main.command()
@click.option("--force", is_flag=True, help="regenerate the secret key (API keys made before stop working; a new "
              "admin key is printed) and the dev PKI (only what walletpass made: an imported certificate is kept)")
@_friendly
def init(force: bool) -> None:
    """Create the instance: secret key, database, dev PKI, demo program, and one admin API key."""
    from walletpass.bootstrap import bootstrap
    from walletpass.demo import DEMO_MEMBER, DEMO_PROGRAM
    from walletpass.devpki import ensure_dev_pki
    from walletpass.instance import load_secret_key
    from walletpass.services import enrolment, programs
    from walletpass.services.api_keys import create_api_key
    from walletpass.services.enrolment import MemberDetails

    s = _settings()
    s.instance_path.mkdir(parents=True, exist_ok=True)
    if force:
        (s.instance_path / "secret_key").unlink(missing_ok=True)
    load_secret_key(s.instance_path)
    svc = bootstrap(s, migrate=True)
    now = svc.clock.now()
    # Pass types given their own certificate/key files (WALLETPASS_*_CERT_FILE) are the operator's: no stand-in.
    in_folder = [p for p in s.pass_type_ids
                 if (s.cert_path(p), s.key_path(p)) == (s.certs_dir / f"{p}.pem", s.certs_dir / f"{p}.key")]
    changes = ensure_dev_pki(s.certs_dir, s.team_id, in_folder, s.google_token_url, now, force=force)
    for path in changes.written:
        click.echo(f"wrote {path}", err=True)
    for path in changes.kept:
        click.echo(f"kept {path}: not made by walletpass's dev CA, so never regenerated (--force only "
                   "regenerates dev material)", err=True)
    with svc.uow() as uow:
        fresh = not uow.programs.exist()
        has_keys = uow.api_keys.exist()
    if fresh:
        program = programs.create_program(svc.uow(), svc.clock, DEMO_PROGRAM)
        assert isinstance(program, Program)  # no Idempotency-Key: never a replay
        member = enrolment.enrol_member(svc.uow(), svc.clock, s, program.id, DEMO_MEMBER, source="demo")
        assert isinstance(member, MemberDetails)
        click.echo(f"demo program {program.id}: {DEMO_PROGRAM['organization_name']}", err=True)
        click.echo(f"demo member's pass page: {svc.urls.page(member.card.public_token)}", err=True)
    if not has_keys or force:
        key = create_api_key(svc.uow(), svc.clock, svc.api_keys.hasher, "admin (walletpass init)", ["admin"])
        click.echo("admin API key (shown once; keep it safe):", err=True)
        click.echo(key)
    else:
        click.echo("instance already initialised: data, keys and PKI kept "
                   "(new key: walletpass apikey create --name NAME)", err=True)
    svc.close()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=os.cpu_count() or 2, show_default="one per CPU", type=click.IntRange(1, 256),
              help="gunicorn worker processes")
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 256),
              help="threads per worker (more threads per process lose to the GIL: see BENCHMARKS.md)")
@_friendly
def serve(host: str, port: int, workers: int, threads: int) -> None:
    """Run the web app under gunicorn (and the embedded job worker unless a broker is configured)."""
    from api.server import run

    run(_settings(), host=host, port=port, workers=workers, threads=threads)


@main.command()
@click.option("--concurrency", default=1, show_default=True, type=click.IntRange(1, 64),
              help="broker mode: drains run at once in this process (threads)")
@click.option("--metrics-port", type=click.IntRange(1, 65535), default=None,
              help="serve this process's Prometheus metrics (pushes by outcome, latency) on this port")
@click.option("--metrics-host", default="127.0.0.1", show_default=True,
              help="address for --metrics-port (0.0.0.0: every interface)")
@_friendly
def worker(concurrency: int, metrics_port: int | None, metrics_host: str) -> None:
    """Run a job worker (pushes to devices) in the foreground until SIGTERM.

    With WALLETPASS_BROKER_URL: a Celery worker on the broker's queue that also sweeps the outbox every
    WALLETPASS_SWEEP_SECONDS; without: a worker that polls the outbox.
    """
    import logging

    from walletpass.bootstrap import bootstrap

    settings = _settings()
    if concurrency != 1 and not settings.broker_url:
        raise InvalidInput("--concurrency", "needs WALLETPASS_BROKER_URL; without a broker, run several "
                           "`walletpass worker` processes instead")
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    svc = bootstrap(settings)
    try:
        if metrics_port is not None:
            _serve_metrics(svc, metrics_host, metrics_port)
        if settings.broker_url:
            from walletpass.jobs.celery_app import run_celery_worker

            sys.exit(run_celery_worker(svc, concurrency=concurrency))
        from walletpass.jobs.worker import run_worker_process

        run_worker_process(svc)
    finally:
        svc.close()


def _serve_metrics(svc: Any, host: str, port: int) -> None:
    from prometheus_client import start_http_server

    svc.metrics  # noqa: B018 - create the push metrics now, so a scrape before the first push sees zeros
    try:
        start_http_server(port, addr=host, registry=svc.registry)
    except OSError as exc:
        raise ConfigurationError(f"--metrics-port {port}: cannot listen on {host}:{port} ({exc.strerror})") from exc


@main.group()
def apikey() -> None:
    """Manage API keys."""


@apikey.command("create")
@click.option("--name", required=True, help="who or what uses the key, e.g. 'pos-taipei-1'")
@click.option("--scope", "scopes", multiple=True, default=("admin",), show_default=True,
              help="admin, programs, members, points, offers, campaigns, stats, pos (repeat for several)")
@click.option("--program", "programs", multiple=True, type=click.IntRange(1), metavar="ID",
              help="limit the key to this program's resources (repeat for several; default: every program)")
@_friendly
def apikey_create(name: str, scopes: tuple[str, ...], programs: tuple[int, ...]) -> None:
    """Create an API key and print it (alone, once) on stdout."""
    from walletpass.bootstrap import bootstrap
    from walletpass.services.api_keys import create_api_key

    svc = bootstrap(_settings(), migrate=True)
    try:
        click.echo(create_api_key(svc.uow(), svc.clock, svc.api_keys.hasher, name, scopes,
                                  programs=programs or None))
    finally:
        svc.close()


@apikey.command("list")
@_friendly
def apikey_list() -> None:
    """List the keys (never the keys themselves): id, prefix, name, scopes, programs, created, last used, revoked."""
    from walletpass.bootstrap import bootstrap
    from walletpass.paging import PageRequest
    from walletpass.services import lists

    svc = bootstrap(_settings(), migrate=True)
    try:
        click.echo("id\tprefix\tname\tscopes\tprograms\tcreated\tlast used\trevoked")
        after = 0
        while page := lists.api_keys(svc.read_uow(), PageRequest(after, 200)):
            for k in page:
                when = [t.isoformat(timespec="seconds") if t else "-" for t in (k.created_at, k.last_used_at,
                                                                               k.revoked_at)]
                programs = ",".join(map(str, k.programs)) if k.programs is not None else "all"
                click.echo("\t".join([str(k.id), k.prefix, k.name, ",".join(k.scopes), programs, *when]))
            after = page[-1].id
    finally:
        svc.close()


@apikey.command("revoke")
@click.argument("ident", metavar="ID|PREFIX")
@_friendly
def apikey_revoke(ident: str) -> None:
    """Revoke a key by its id or prefix (as `walletpass apikey list` shows): refused from then on."""
    from walletpass.bootstrap import bootstrap
    from walletpass.services.api_keys import revoke_api_key

    svc = bootstrap(_settings(), migrate=True)
    try:
        key = revoke_api_key(svc.uow(), svc.clock, ident)
        click.echo(f"revoked {key.id} {key.prefix} {key.name!r}")
    finally:
        svc.close()


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@_friendly
def db_upgrade() -> None:
    """Apply Alembic migrations up to the newest schema."""
    from walletpass.bootstrap import bootstrap

    bootstrap(_settings(), migrate=True).close()
    click.echo("database is up to date", err=True)


@main.group()
def certs() -> None:
    """Apple certificates."""


@certs.command("import-p12")
@click.argument("p12_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--password-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="file holding the .p12 password (else you are asked, without echo)")
@_friendly
def certs_import_p12(p12_file: Path, password_file: Path | None) -> None:
    """Import a Pass Type ID certificate exported from Keychain (.p12) into the certs folder."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    from walletpass.credentials import load_p12
    from walletpass.devpki import write_file

    s = _settings()
    if password_file is not None:
        password = password_file.read_bytes().rstrip(b"\r\n")
    elif sys.stdin.isatty():
        password = click.prompt("password of the .p12", hide_input=True, default="", show_default=False).encode()
    else:
        password = sys.stdin.buffer.readline().rstrip(b"\r\n")
    try:
        cert_pem, key_pem = load_p12(p12_file.read_bytes(), password or None)
    except CredentialError as exc:  # the file or its password is wrong, not the command: exit 1 as `certs check`
        click.echo(f"error: {exc.detail}", err=True)
        sys.exit(1)
    cert = x509.load_pem_x509_certificate(cert_pem)
    uids = cert.subject.get_attributes_for_oid(NameOID.USER_ID)
    if not uids:
        click.echo("error: this certificate has no UID: it is not a Pass Type ID certificate", err=True)
        sys.exit(1)
    ptid = str(uids[0].value)
    cert_path, key_path = s.cert_path(ptid), s.key_path(ptid)  # WALLETPASS_*_CERT_FILE / _KEY_FILE, else the folder
    write_file(cert_path, cert_pem, secret=True)
    write_file(key_path, key_pem, secret=True)
    click.echo(f"imported {ptid}: {cert_path} and {key_path} (mode 0600)", err=True)
    if ptid not in s.pass_type_ids:
        click.echo(f"note: {ptid} is not a configured pass type; set WALLETPASS_MEMBER_PASS_TYPE_ID or "
                   "WALLETPASS_COUPON_PASS_TYPE_ID to use it", err=True)


@certs.command("check")
@_friendly
def certs_check() -> None:
    """Check each configured pass certificate: subject, pass type, team, issuer, days to expiry."""
    from datetime import UTC, datetime

    from walletpass.credentials import check_certificate

    s = _settings()
    now = datetime.now(UTC)
    wwdr = s.wwdr_path.read_bytes() if s.wwdr_path.exists() else None
    failed = False
    for ptid in s.pass_type_ids:
        path = s.cert_path(ptid)
        if not path.exists():
            click.echo(f"{ptid}: ERROR missing certificate {path}")
            failed = True
            continue
        key = s.key_path(ptid)
        report = check_certificate(path.read_bytes(), wwdr, now, (ptid,), s.team_id,
                                   key_pem=key.read_bytes() if key.exists() else None,
                                   key_password=s.key_password.encode() if s.key_password else None)
        state = "OK" if report.ok else "ERROR"
        click.echo(f"{ptid}: {state}\n  subject: {report.subject}\n  issuer: {report.issuer}\n"
                   f"  pass type: {report.pass_type_id}  team: {report.team_id}\n"
                   f"  expires: {report.not_valid_after:%Y-%m-%d} ({report.days_left} days left)")
        for w in report.warnings:
            click.echo(f"  warning: {w}")
        for e in report.errors:
            click.echo(f"  error: {e}")
        failed = failed or not report.ok
    sys.exit(1 if failed else 0)


@main.command()
@click.argument("pkpass", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="print the findings as JSON (for machines)")
@click.option("--timeout", default=5.0, show_default=True, type=click.FloatRange(0.1, 60),
              help="seconds for each network check")
@_friendly
def doctor(pkpass: Path | None, as_json: bool, timeout: float) -> None:
    """Check this instance (certificates, APNs, Google, Samsung, base URL), or explain why PKPASS would not open.

    One line per check: ok, warn, FAIL (with what to do) or skip. Exit 1 when anything FAILs.
    """
    import json
    from datetime import UTC, datetime

    from walletpass.doctor.findings import failed

    now = datetime.now(UTC)
    if pkpass is not None:
        from walletpass.doctor.passfile import inspect_pkpass

        findings = inspect_pkpass(pkpass.read_bytes(), now)
    else:
        from walletpass.doctor.instance import check_instance

        findings = check_instance(Settings.from_env(os.environ, check=False), now, timeout=timeout)
    if as_json:
        click.echo(json.dumps({"ok": not failed(findings), "findings": [f.as_dict() for f in findings]},
                              ensure_ascii=False, indent=2))
    else:
        for finding in findings:
            click.echo(finding.line())
    sys.exit(1 if failed(findings) else 0)


@main.group(name="pass")
def pass_() -> None:
    """Passes."""


@pass_.command("build")
@click.option("--member", "member_id", type=int, help="build the member card of this member id")
@click.option("--serial", help="build the pass with this serial number")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@_friendly
def pass_build(member_id: int | None, serial: str | None, output: Path) -> None:
    """Build and sign a pass offline, to a file."""
    from walletpass.bootstrap import bootstrap
    from walletpass.services.passes import build_pass, pass_id_for_serial

    if (member_id is None) == (serial is None):
        raise InvalidInput("--member/--serial", "give exactly one of --member ID or --serial SERIAL")
    svc = bootstrap(_settings())
    pass_id = pass_id_for_serial(svc.uow(), member_id=member_id, serial=serial)
    built = build_pass(svc.read_uow(), svc.pass_builder, pass_id)
    output.write_bytes(built.data)
    click.echo(f"wrote {output} ({len(built.data)} bytes, serial {built.serial_number})", err=True)
    svc.close()


if __name__ == "__main__":  # pragma: no cover
    main()
