"""``walletpass doctor``: check a configured instance as a phone and Apple's and Google's servers will see it.

ADAPTER: reads the certificate and key files and opens connections (APNs, Google's token endpoint, the public base
URL), each with a short timeout. One :class:`~walletpass.doctor.findings.Finding` per check, never an exception.

- settings: what :meth:`Settings.check` refuses;
- ``certificate:<pass type>``: Apple WWDR G4 or the development stand-in (an iPhone refuses a pass signed by the
  stand-in: FAIL, or warn on a loopback demo instance), expiry and days left, UID / OU against the configured pass
  type and team, key against certificate;
- ``apns:<pass type>``: a TLS + HTTP/2 connection to WALLETPASS_APNS_URL with the configured identity (the pass
  certificate, or the .p8 provider token) and one request to an all-zero device token: APNs answers 400
  BadDeviceToken to a good identity, 403 to a refused one;
- ``google``: the issuer id, the service-account key, an OAuth token fetched from WALLETPASS_GOOGLE_TOKEN_URL;
- ``samsung``: the partner key (PEM, PKCS#1 or PKCS#8, RSA ≥ 2048) and Samsung's certificate (RSA, expiry), a
  cdata token built with them, the Card IDs, and the partner URL to enter in the Partner Portal (skipped when
  WALLETPASS_SAMSUNG_PARTNER_ID is unset);
- ``base-url``: https outside loopback, no trailing ``/v1``, and ``GET <base>/healthz`` answers as walletpass.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.x509.oid import NameOID

from walletpass.config import Settings
from walletpass.credentials import check_certificate
from walletpass.devpki import is_dev_certificate, is_dev_google_key
from walletpass.doctor.findings import FAIL, OK, SKIP, WARN, Finding
from walletpass.doctor.passfile import DEV_CHAIN_FIX, DEV_CHAIN_WARNING, chain_kind
from walletpass.errors import ConfigurationError, CredentialError, GoogleApiError, PushUnavailable
from walletpass.push.token import ProviderTokens

#: The issuer id Settings falls back to: a placeholder, not a Pay & Wallet Console issuer.
PLACEHOLDER_ISSUER_ID = Settings.__dataclass_fields__["google_issuer_id"].default
PROBE_DEVICE_TOKEN = "0" * 64
TOKEN_AUTH_NOTE = ("Apple documents only the pass certificate for pass-update pushes; token auth is reported to work "
                   "when the .p8 key belongs to the team that owns the pass type ids")


def check_instance(settings: Settings, now: datetime, *, timeout: float = 5.0) -> list[Finding]:
    """Run every instance check; *timeout* bounds each network step."""
    findings = settings_checks(settings)
    for ptid in settings.pass_type_ids:
        findings += certificate_checks(settings, ptid, now)
    findings += apns_checks(settings, timeout)
    findings += google_checks(settings, timeout)
    findings += samsung_checks(settings, now)
    findings += base_url_checks(settings, timeout)
    return findings


def settings_checks(settings: Settings) -> list[Finding]:
    try:
        settings.check()
    except ConfigurationError as exc:
        return [Finding("settings", FAIL, exc.detail, "fix the WALLETPASS_* variable it names")]
    return [Finding("settings", OK, "the WALLETPASS_* settings are consistent")]


def _demo(settings: Settings) -> bool:
    """A demo instance: its base URL is loopback, so no phone reaches it anyway (`make run`)."""
    return settings.base_url_is_loopback


def certificate_checks(settings: Settings, ptid: str, now: datetime) -> list[Finding]:
    check = f"certificate:{ptid}"
    rule = "apple.md §1.4, §5.1"
    cert_path, key_path, wwdr_path = settings.cert_path(ptid), settings.key_path(ptid), settings.wwdr_path
    if not cert_path.is_file():
        return [Finding(check, FAIL, f"no certificate at {cert_path}", "import the Pass Type ID certificate: "
                        "walletpass certs import-p12 FILE.p12 (or walletpass init for a development stand-in)", rule)]
    out: list[Finding] = []
    cert_pem = cert_path.read_bytes()
    wwdr_pem = wwdr_path.read_bytes() if wwdr_path.is_file() else None
    try:
        report = check_certificate(cert_pem, wwdr_pem, now, (ptid,), settings.team_id,
                                   key_pem=key_path.read_bytes() if key_path.is_file() else None,
                                   key_password=settings.key_password.encode() if settings.key_password else None)
    except CredentialError as exc:
        return [Finding(check, FAIL, exc.detail, f"put a PEM certificate at {cert_path}", rule)]
    if is_dev_certificate(cert_pem):
        out.append(Finding(check, WARN if _demo(settings) else FAIL, DEV_CHAIN_WARNING.replace("THIS PASS",
                           "EVERY PASS OF THIS INSTANCE"), DEV_CHAIN_FIX, rule))
    if wwdr_pem is None:
        out.append(Finding(check, FAIL, f"no WWDR certificate at {wwdr_path}", "download AppleWWDRCAG4.cer and "
                           "set WALLETPASS_WWDR_CERT_FILE", rule))
    else:
        kind = chain_kind(x509.load_pem_x509_certificate(wwdr_pem) if b"-----BEGIN" in wwdr_pem
                          else x509.load_der_x509_certificate(wwdr_pem))
        if kind in ("other-wwdr", "unknown"):
            out.append(Finding(check, FAIL, f"{wwdr_path} is not Apple's WWDR G4 intermediate",
                               "download AppleWWDRCAG4.cer from apple.com/certificateauthority", rule))
    if not key_path.is_file():
        out.append(Finding(check, FAIL, f"no private key at {key_path}", "import the .p12 (certificate with its "
                           "key): walletpass certs import-p12", rule))
    out += [Finding(check, FAIL, error, rule=rule) for error in report.errors]
    out += [Finding(check, WARN, warning, rule=rule) for warning in report.warnings]
    if not report.errors:
        out.append(Finding(check, OK, f"UID {report.pass_type_id}, team {report.team_id}, key matches; valid until "
                           f"{report.not_valid_after:%Y-%m-%d} ({report.days_left} days left)"))
    return out


def _certificate_team(settings: Settings, ptid: str) -> str | None:
    try:
        cert = x509.load_pem_x509_certificate(settings.cert_path(ptid).read_bytes())
    except (OSError, ValueError):
        return None
    values = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    return str(values[0].value) if values else None


def apns_checks(settings: Settings, timeout: float, *, now: Callable[[], datetime] | None = None) -> list[Finding]:
    rule = "apple.md §4"
    out: list[Finding] = []
    tokens: ProviderTokens | None = None
    if settings.apns_key_file is not None and settings.apns_key_id is not None:
        try:
            tokens = ProviderTokens.from_file(settings.apns_key_file, settings.apns_key_id,
                                              settings.apns_token_team_id, **({"now": now} if now else {}))
        except (CredentialError, ConfigurationError) as exc:
            return [Finding("apns", FAIL, exc.detail, "download the APNs key (.p8) again and set "
                            "WALLETPASS_APNS_KEY_FILE / WALLETPASS_APNS_KEY_ID", rule)]
        out.append(Finding("apns", WARN, f"token auth with key {settings.apns_key_id} of team "
                           f"{settings.apns_token_team_id}: {TOKEN_AUTH_NOTE}", "if APNs accepts the pushes but "
                           "passes do not update, unset WALLETPASS_APNS_KEY_FILE to push with the certificates",
                           "apple.md §4, §6"))
    for ptid in settings.pass_type_ids:
        team = _certificate_team(settings, ptid)
        if tokens is not None and team is not None and team != tokens.team_id:
            out.append(Finding(f"apns:{ptid}", FAIL, f"the APNs key is team {tokens.team_id}'s but {ptid} belongs "
                               f"to team {team}", "use a .p8 key of the pass type's team (or the certificate)", rule))
        out.append(_probe(settings, ptid, tokens, timeout))
    return out


def _probe(settings: Settings, ptid: str, tokens: ProviderTokens | None, timeout: float) -> Finding:
    """Connect to APNs as *ptid*'s pushes do and send one push to an all-zero (invalid) device token."""
    from walletpass.push.apns import ApnsClient

    check, rule = f"apns:{ptid}", "apple.md §4"
    identity = f"provider token (key {tokens.key_id})" if tokens else "the pass certificate"
    try:
        with ApnsClient(settings.apns_url, settings.cert_path(ptid), settings.key_path(ptid), settings.key_password,
                        settings.apns_ca_file, timeout=timeout, connect_timeout=timeout, tokens=tokens,
                        max_streams=1) as client:
            (outcome,) = client.send([PROBE_DEVICE_TOKEN], ptid)
    except (CredentialError, ConfigurationError) as exc:
        return Finding(check, FAIL, exc.detail, "fix the file or setting it names", rule)
    except PushUnavailable as exc:
        return Finding(check, FAIL, f"no TLS/HTTP/2 exchange with {settings.apns_url} using {identity}: "
                       f"{exc.detail}", "allow outbound port 443 to api.push.apple.com; check WALLETPASS_APNS_URL "
                       "and WALLETPASS_APNS_CA_FILE; a refused TLS handshake means APNs does not accept the "
                       "certificate (expired, revoked, not a Pass Type ID one)", rule)
    if outcome.status == 403:
        return Finding(check, FAIL, f"APNs refused {identity}: 403 {outcome.reason}",
                       "fix the APNs key settings" if tokens else "replace the pass certificate and key", rule)
    if outcome.status == 0:
        return Finding(check, FAIL, f"connected to {settings.apns_url} but got no answer: {outcome.reason}",
                       "check WALLETPASS_APNS_URL", rule)
    answer = f"{outcome.status} {outcome.reason}".strip()
    return Finding(check, OK, f"TLS + HTTP/2 to {settings.apns_url} with {identity}; a probe to an invalid device "
                   f"token answered {answer}")


def google_checks(settings: Settings, timeout: float) -> list[Finding]:
    from walletpass.google.client import GoogleWalletClient

    rule = "google.md §2"
    out: list[Finding] = []
    if settings.google_issuer_id == PLACEHOLDER_ISSUER_ID:
        out.append(Finding("google", WARN if _demo(settings) else FAIL, "WALLETPASS_GOOGLE_ISSUER_ID is the "
                           "development placeholder", "set it to your issuer id from the Google Pay & Wallet "
                           "Console", rule))
    path = settings.google_key_path
    try:
        data = path.read_bytes()
    except OSError:
        return [*out, Finding("google", FAIL, f"no service-account key at {path}", "create a key for the service "
                              "account in Google Cloud and set WALLETPASS_GOOGLE_SERVICE_ACCOUNT_FILE", rule)]
    if is_dev_google_key(data):
        out.append(Finding("google", WARN if _demo(settings) else FAIL, "the service-account key is walletpass's "
                           "development stand-in: Google refuses it", "set WALLETPASS_GOOGLE_SERVICE_ACCOUNT_FILE "
                           "to your service account's JSON key", rule))
    try:
        client = GoogleWalletClient.from_settings(settings, timeout=timeout)
    except CredentialError as exc:
        return [*out, Finding("google", FAIL, exc.detail, "use the JSON key file Google Cloud gave you", rule)]
    try:
        client.check_credentials()
    except GoogleApiError as exc:
        out.append(Finding("google", FAIL, f"no OAuth token from {settings.google_token_url}: {exc.detail}",
                           "check the key is active, the service account is a user of the issuer, and "
                           "WALLETPASS_GOOGLE_TOKEN_URL", rule))
    else:
        email = json.loads(data).get("client_email", "?")
        out.append(Finding("google", OK, f"OAuth token fetched from {settings.google_token_url} as {email}; "
                           f"issuer {settings.google_issuer_id}"))
    finally:
        client.close()
    return out


def samsung_checks(settings: Settings, now: datetime | None = None) -> list[Finding]:
    """Samsung Wallet: partner key, Samsung's certificate, a cdata token built with both, Card IDs."""
    from walletpass.samsung import cards
    from walletpass.samsung.jose import JoseError, load_private_key, load_public_key
    from walletpass.urls import PublicUrls

    if not settings.samsung_enabled:
        return [Finding("samsung", SKIP, "not configured (WALLETPASS_SAMSUNG_PARTNER_ID is unset)")]
    rule = "samsung-android.md §1.3"
    at = now or datetime.now(UTC)
    out: list[Finding] = []
    key_path, cert_path = settings.samsung_key_path, settings.samsung_cert_path
    try:
        key = load_private_key(key_path.read_bytes())
    except (OSError, JoseError) as exc:
        return [Finding("samsung", FAIL, f"partner key {key_path}: {exc}", "set WALLETPASS_SAMSUNG_PARTNER_KEY_FILE "
                        "to the unencrypted PEM key (PKCS#1 or PKCS#8) whose CSR you gave Samsung", rule)]
    if key.key_size < 2048:
        out.append(Finding("samsung", FAIL, f"the partner key has {key.key_size} bits", "make a 2048-bit RSA key "
                           "and a new CSR in the Partner Portal", rule))
    try:
        pem = cert_path.read_bytes()
        samsung_key = load_public_key(pem)
    except (OSError, JoseError) as exc:
        return [*out, Finding("samsung", FAIL, f"Samsung certificate {cert_path}: {exc}", "set "
                              "WALLETPASS_SAMSUNG_CERT_FILE to the Samsung certificate (PEM) Samsung e-mailed", rule)]
    if b"CERTIFICATE" in pem:
        not_after = x509.load_pem_x509_certificate(pem).not_valid_after_utc
        if not_after <= at:
            out.append(Finding("samsung", FAIL, f"Samsung's certificate expired on {not_after:%Y-%m-%d}", "get the "
                               "current certificate from Samsung's Partner Portal", rule))
        elif (not_after - at).days < 30:
            out.append(Finding("samsung", WARN, f"Samsung's certificate expires on {not_after:%Y-%m-%d}",
                               "get the renewed certificate from the Partner Portal before then", rule))
    who = cards.PartnerIdentity(settings.samsung_partner_id or "", settings.samsung_certificate_id or "", key,
                                samsung_key)
    try:
        cards.cdata_token({"card": {}}, who, at)
    except Exception as exc:  # noqa: BLE001 - reported, never raised
        out.append(Finding("samsung", FAIL, f"cannot build a cdata token with these keys: {exc}", "check both "
                           "files are RSA keys", rule))
    for kind, card_id in (("member cards", settings.samsung_loyalty_card_id),
                          ("coupons", settings.samsung_coupon_card_id)):
        if card_id is None:
            out.append(Finding("samsung", WARN, f"no Card ID for {kind}: they are not offered in Samsung Wallet",
                               "create the card in the Partner Portal and set its Card ID", "samsung-android.md §1.1"))
    if not any(f.level == FAIL for f in out):
        out.append(Finding("samsung", OK, f"partner {settings.samsung_partner_id}, certificate "
                           f"{settings.samsung_certificate_id}: cdata tokens are signed and encrypted; enter "
                           f"{PublicUrls.of(settings).samsung_partner()} as the Partner Portal's Get card data and "
                           "Send card state URL"))
    return out


def base_url_checks(settings: Settings, timeout: float) -> list[Finding]:
    rule = "apple.md §2.5, §3; PRODUCT.md (webServiceURL = <base>/)"
    base = settings.base_url
    parts = urlsplit(base)
    host = parts.hostname or ""
    out: list[Finding] = []
    if parts.scheme not in ("http", "https") or not host:
        return [Finding("base-url", FAIL, f"{base!r} is not an http(s) URL", "set WALLETPASS_BASE_URL to "
                        "https://your.host/", rule)]
    if parts.scheme != "https":
        if settings.base_url_is_loopback:
            out.append(Finding("base-url", WARN, f"{base} is http on loopback: fine for a demo in a browser, but no "
                               "phone can reach it", "set WALLETPASS_BASE_URL to the public https URL", rule))
        else:
            out.append(Finding("base-url", FAIL, f"{base} uses http: devices only call an https webServiceURL",
                               "serve walletpass behind https and set WALLETPASS_BASE_URL to the https URL", rule))
    if parts.path.rstrip("/").endswith("/v1"):
        out.append(Finding("base-url", FAIL, f"{base} ends with /v1: devices add /v1/… to it themselves",
                           "give the base URL without /v1", rule))
    url = base.rstrip("/") + "/healthz"
    try:
        resp = httpx.get(url, timeout=timeout, follow_redirects=False)
    except httpx.HTTPError as exc:
        out.append(Finding("base-url", FAIL, f"GET {url} failed: {type(exc).__name__}: {exc}",
                           "start walletpass (walletpass serve) and make the URL reachable from the internet "
                           "(DNS, proxy, TLS certificate)", rule))
        return out
    try:
        doc = resp.json()
    except ValueError:
        doc = None
    if resp.status_code in (200, 503) and isinstance(doc, dict) and "checks" in doc:
        out.append(Finding("base-url", OK if resp.status_code == 200 else FAIL,
                           f"GET {url} answered {resp.status_code} as walletpass (status {doc.get('status')})",
                           "" if resp.status_code == 200 else "see /healthz: the database is unreachable"))
    else:
        out.append(Finding("base-url", FAIL, f"GET {url} answered {resp.status_code}, not walletpass's /healthz",
                           "point the proxy for this URL (every path under it) at walletpass", rule))
    return out


__all__ = ["apns_checks", "base_url_checks", "certificate_checks", "check_instance", "google_checks",
           "samsung_checks", "settings_checks"]
