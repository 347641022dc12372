"""Settings: one frozen value, read once from ``WALLETPASS_*`` environment variables by the shell.

Nothing else in walletpass reads the environment. Tests build Settings with :meth:`Settings.for_tests`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from walletpass.errors import ConfigurationError
from walletpass.hosts import is_loopback

PREFIX = "WALLETPASS_"
_QUEUE_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")
_APPLE_ID = re.compile(r"[A-Z0-9]{10}")

#: name → (attribute, help text). Drives from_env and the README table (tests/unit/test_config.py keeps them in step).
ENV_VARS: dict[str, tuple[str, str]] = {
    "INSTANCE": ("instance_path", "instance folder: secret key, SQLite database (default ./instance)"),
    "DATABASE_URL": ("database_url", "SQLAlchemy URL; default sqlite:///<instance>/walletpass.db; "
                     "postgresql://user@host/db for PostgreSQL"),
    "BROKER_URL": ("broker_url", "Redis URL of the Celery broker (redis:// or rediss://); unset = embedded "
                   "worker thread"),
    "BROKER_QUEUE": ("broker_queue", "Celery queue the web processes kick and `walletpass worker` consumes "
                     "(default walletpass)"),
    "BASE_URL": ("base_url", "public base URL (default http://127.0.0.1:8000); passes get webServiceURL=<base>/"),
    "SECRET_KEY": ("secret_key", "secret for signed tokens and API key hashes: the same for every process and "
                   "machine of the instance; changing it invalidates the API keys; default: generated into "
                   "<instance>/secret_key"),
    "TEAM_ID": ("team_id", "Apple Team ID (the OU of your Pass Type ID certificate)"),
    "MEMBER_PASS_TYPE_ID": ("member_pass_type_id", "Pass Type ID of member cards (storeCard)"),
    "COUPON_PASS_TYPE_ID": ("coupon_pass_type_id", "Pass Type ID of coupons"),
    "TEMPLATES_DIR": ("templates_dir", "folder of your own pass templates, one folder each (member-card/, "
                      "coupon/, …): each is used instead of the shipped template of that name (default: the "
                      "shipped ones only)"),
    "CERTS_DIR": ("certs_dir", "folder of <passTypeId>.pem/.key, wwdr-ca.pem, google-service-account.json "
                  "(default ./certs/dev; keep real certificates in a folder of their own)"),
    "MEMBER_CERT_FILE": ("member_cert_file", "Pass Type ID certificate (PEM) of member cards (default "
                         "<certs>/<member pass type id>.pem)"),
    "MEMBER_KEY_FILE": ("member_key_file", "its private key (PEM; default <certs>/<member pass type id>.key)"),
    "COUPON_CERT_FILE": ("coupon_cert_file", "Pass Type ID certificate (PEM) of coupons (default "
                         "<certs>/<coupon pass type id>.pem)"),
    "COUPON_KEY_FILE": ("coupon_key_file", "its private key (PEM; default <certs>/<coupon pass type id>.key)"),
    "WWDR_CERT_FILE": ("wwdr_cert_file", "WWDR intermediate to embed in signatures (default <certs>/wwdr-ca.pem)"),
    "KEY_PASSWORD": ("key_password", "password of encrypted pass-type keys, if any"),
    "APNS_URL": ("apns_url", "APNs base URL (default https://api.push.apple.com)"),
    "APNS_CA_FILE": ("apns_ca_file", "extra CA bundle to trust for the APNs server (default: the system's)"),
    "APNS_KEY_FILE": ("apns_key_file", "APNs authentication key (.p8) for token-based pushes instead of the pass "
                      "certificates (then APNS_KEY_ID is required; the key must belong to the team of the pass type "
                      "ids: Apple documents only certificates for pass updates, see `walletpass doctor`)"),
    "APNS_KEY_ID": ("apns_key_id", "the 10-character key id of APNS_KEY_FILE"),
    "APNS_TEAM_ID": ("apns_team_id", "team id the APNs key belongs to (default: TEAM_ID)"),
    "WALLETPASSES_PUSH_URL": ("walletpasses_push_url", "WalletPasses' push relay for the Android devices that "
                              "registered with it (default https://walletpasses.appspot.com/api/v1/push)"),
    "WALLETPASSES_API_KEY": ("walletpasses_api_key", "API key of that relay (optional, recommended: its rate limit "
                             "is lower without one; walletpasses.io/developer)"),
    "PASS2U_PUSH_URL": ("pass2u_push_url", "Pass2U's push API base URL (default https://api.passesalliance.com)"),
    "PASS2U_API_KEY": ("pass2u_api_key", "Pass2U API key (x-api-key): Pass2U devices are pushed only with one"),
    "PASSWALLET_PUSH_HOSTS": ("passwallet_push_hosts_text", "comma-separated hosts PassWallet devices may name as "
                              "their pushServiceUrl, on ports 80/443 (host:port for another port; default "
                              "push.passwallet.net,walletpasses.appspot.com); a registration naming another is "
                              "refused (400)"),
    "RELAY_TIMEOUT": ("relay_timeout", "seconds an Android app's push relay has to answer (default 10); no answer "
                      "is retried like an APNs outage"),
    "GOOGLE_ISSUER_ID": ("google_issuer_id", "Google Wallet issuer id (numeric)"),
    "GOOGLE_SERVICE_ACCOUNT_FILE": ("google_service_account_file",
                                    "service-account key JSON (default <certs>/google-service-account.json)"),
    "GOOGLE_API_URL": ("google_api_url", "Wallet REST base URL (default https://walletobjects.googleapis.com)"),
    "GOOGLE_TOKEN_URL": ("google_token_url", "OAuth token URL (default https://oauth2.googleapis.com/token)"),
    "GOOGLE_CALLBACK_KEYS_URL": ("google_callback_keys_url",
                                 "Google's callback root keys (default https://pay.google.com/gp/m/issuer/keys)"),
    "GOOGLE_RATE_LIMIT": ("google_rate_limit", "requests/s to the Wallet REST API, shared by every process "
                          "through Redis when BROKER_URL is set, else per process (default 20, Google's per-project "
                          "limit; 0 = unlimited)"),
    "SAMSUNG_PARTNER_ID": ("samsung_partner_id", "Samsung Wallet partner id (Partner Portal; ≤ 16 characters); "
                           "set it, with the settings below, to offer \"Add to Samsung Wallet\""),
    "SAMSUNG_CERTIFICATE_ID": ("samsung_certificate_id", "id of the partner certificate whose key signs (Partner "
                               "Portal; ≤ 64 characters)"),
    "SAMSUNG_LOYALTY_CARD_ID": ("samsung_loyalty_card_id", "Card ID of the Samsung loyalty card template of member "
                                "cards (≤ 32 characters; unset = member cards are not offered)"),
    "SAMSUNG_COUPON_CARD_ID": ("samsung_coupon_card_id", "Card ID of the Samsung coupon template (≤ 32 characters; "
                               "unset = coupons are not offered)"),
    "SAMSUNG_PARTNER_KEY_FILE": ("samsung_partner_key_file", "the partner's RSA private key (PEM, PKCS#1 or PKCS#8) "
                                 "whose CSR Samsung signed (default <certs>/samsung-partner.key)"),
    "SAMSUNG_CERT_FILE": ("samsung_cert_file", "Samsung's certificate (PEM) as Samsung e-mailed it: cards are "
                          "encrypted to it and Samsung's calls verified with it (default <certs>/samsung.crt)"),
    "SAMSUNG_API_URL": ("samsung_api_url", "Samsung's server API base, used until a card's ADDED event names its "
                        "own (default https://tsapi-card.walletsvc.samsung.com)"),
    "EMBEDDED_WORKER": ("embedded_worker", "1/0: run the job worker inside `walletpass serve` (default 1 "
                        "unless BROKER_URL is set)"),
    "PUSH_COALESCE_SECONDS": ("push_coalesce_seconds", "changes to one pass within this window become one push "
                              "(default 2)"),
    "CAMPAIGN_RATE": ("campaign_rate", "passes per second a campaign hands to the wallets (0, the default: what "
                      "this machine's cores serve when each pass costs a signature, measured at start, and the rest "
                      "of its fetch; chunks are also held back while the devices pushed by the earlier ones still "
                      "wait for their passes, so they never outrun the web tier)"),
    "SWEEP_SECONDS": ("sweep_seconds", "broker mode: each `walletpass worker` also drains due jobs this often, "
                      "for retries and lost kicks (default 2)"),
    "JOB_LEASE_SECONDS": ("job_lease_seconds", "how long claimed jobs stay a worker's unless it renews the lease "
                          "(a running worker renews it every third of it), so how soon another worker takes over the "
                          "jobs of one that died (default 12)"),
    "WEBHOOKS_ALLOW_PRIVATE": ("webhooks_allow_private", "1/0: webhooks may call loopback and private addresses "
                               "(default 0: public addresses only; link-local and cloud metadata addresses never)"),
    "WEBHOOK_TIMEOUT": ("webhook_timeout", "seconds a webhook receiver has to answer (connect: at most 3; default "
                        "5); no answer in time is retried"),
    "MAX_BODY_BYTES": ("max_body_bytes", "largest accepted request body (default 1048576)"),
    "MAX_IMAGE_BYTES": ("max_image_bytes", "largest accepted image upload (default 2097152)"),
    "FLYER_FONT": ("flyer_font", "font file of the printable flyers (a .ttf or .ttc with CJK glyphs; default "
                   "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc, Debian's fonts-wqy-microhei)"),
    "LOG_LEVEL": ("log_level", "logging level (default INFO)"),
    "ACCESS_LOG": ("access_log", "1/0: `walletpass serve` logs every request on stdout (default 1; a proxy in "
                   "front that logs already can turn it off: ~100 µs of CPU per request)"),
    "SMTP_URL": ("smtp_url", "mail server for the enrolment page's card links: smtp://[user:password@]host[:port] "
                 "(STARTTLS when the server offers it) or smtps://… (TLS); unset = no mail, the page shows the "
                 "link itself"),
    "MAIL_FROM": ("mail_from", "From address of those mails (default walletpass@<host of BASE_URL>)"),
    "JOIN_RATE_LIMIT": ("join_rate_limit", "enrolments one IP address may submit, e.g. 10/minute;50/hour "
                        "(default); counted in Redis when BROKER_URL is set, else per process"),
}


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable about one walletpass instance."""

    instance_path: Path
    database_url: str
    certs_dir: Path
    base_url: str = "http://127.0.0.1:8000"
    broker_url: str | None = None
    broker_queue: str = "walletpass"
    secret_key: str | None = None
    team_id: str = "DEVTEAM001"
    member_pass_type_id: str = "pass.dev.walletpass.member"
    coupon_pass_type_id: str = "pass.dev.walletpass.coupon"
    templates_dir: Path | None = None
    member_cert_file: Path | None = None
    member_key_file: Path | None = None
    coupon_cert_file: Path | None = None
    coupon_key_file: Path | None = None
    wwdr_cert_file: Path | None = None
    key_password: str | None = None
    apns_url: str = "https://api.push.apple.com"
    apns_ca_file: Path | None = None
    apns_key_file: Path | None = None
    apns_key_id: str | None = None
    apns_team_id: str | None = None
    walletpasses_push_url: str = "https://walletpasses.appspot.com/api/v1/push"
    walletpasses_api_key: str | None = None
    pass2u_push_url: str = "https://api.passesalliance.com"
    pass2u_api_key: str | None = None
    passwallet_push_hosts_text: str = "push.passwallet.net,walletpasses.appspot.com"
    relay_timeout: float = 10.0
    google_issuer_id: str = "3388000000000000001"
    google_service_account_file: Path | None = None
    google_api_url: str = "https://walletobjects.googleapis.com"
    google_token_url: str = "https://oauth2.googleapis.com/token"
    google_callback_keys_url: str = "https://pay.google.com/gp/m/issuer/keys"
    google_rate_limit: float = 20.0
    samsung_partner_id: str | None = None
    samsung_certificate_id: str | None = None
    samsung_loyalty_card_id: str | None = None
    samsung_coupon_card_id: str | None = None
    samsung_partner_key_file: Path | None = None
    samsung_cert_file: Path | None = None
    samsung_api_url: str = "https://tsapi-card.walletsvc.samsung.com"
    embedded_worker: bool = True
    push_coalesce_seconds: float = 2.0
    sweep_seconds: float = 2.0
    campaign_rate: float = 0.0
    job_lease_seconds: float = 12.0
    webhooks_allow_private: bool = False
    webhook_timeout: float = 5.0
    max_body_bytes: int = 1_048_576
    max_image_bytes: int = 2_097_152
    flyer_font: Path = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
    log_level: str = "INFO"
    access_log: bool = True
    smtp_url: str | None = None
    mail_from: str | None = None
    join_rate_limit: str = "10/minute;50/hour"
    extra: Mapping[str, str] = field(default_factory=dict)

    # -- derived -----------------------------------------------------------------------------
    @property
    def pass_type_ids(self) -> tuple[str, ...]:
        return (self.member_pass_type_id, self.coupon_pass_type_id)

    @property
    def wwdr_path(self) -> Path:
        return self.wwdr_cert_file or self.certs_dir / "wwdr-ca.pem"

    @property
    def google_key_path(self) -> Path:
        return self.google_service_account_file or self.certs_dir / "google-service-account.json"

    @property
    def samsung_key_path(self) -> Path:
        return self.samsung_partner_key_file or self.certs_dir / "samsung-partner.key"

    @property
    def samsung_cert_path(self) -> Path:
        return self.samsung_cert_file or self.certs_dir / "samsung.crt"

    @property
    def samsung_enabled(self) -> bool:
        """Samsung Wallet is offered: a partner id is set (check() makes sure the rest is)."""
        return bool(self.samsung_partner_id)

    def cert_path(self, pass_type_id: str) -> Path:
        """The certificate of *pass_type_id*: its ``WALLETPASS_*_CERT_FILE``, else ``<certs>/<id>.pem``."""
        configured = {self.member_pass_type_id: self.member_cert_file, self.coupon_pass_type_id: self.coupon_cert_file}
        return configured.get(pass_type_id) or self.certs_dir / f"{pass_type_id}.pem"

    def key_path(self, pass_type_id: str) -> Path:
        """The private key of *pass_type_id*: its ``WALLETPASS_*_KEY_FILE``, else ``<certs>/<id>.key``."""
        configured = {self.member_pass_type_id: self.member_key_file, self.coupon_pass_type_id: self.coupon_key_file}
        return configured.get(pass_type_id) or self.certs_dir / f"{pass_type_id}.key"

    @property
    def apns_token_team_id(self) -> str:
        """The ``iss`` of APNs provider tokens: ``WALLETPASS_APNS_TEAM_ID``, else ``WALLETPASS_TEAM_ID``."""
        return self.apns_team_id or self.team_id

    @property
    def passwallet_push_hosts(self) -> frozenset[str]:
        """The hosts a PassWallet registration's ``pushServiceUrl`` may name (lower case)."""
        return frozenset(h.strip().lower() for h in self.passwallet_push_hosts_text.split(",") if h.strip())

    @property
    def base_url_is_loopback(self) -> bool:
        return is_loopback(urlsplit(self.base_url).hostname or "")

    def replace(self, **changes: object) -> Settings:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    # -- constructors ------------------------------------------------------------------------
    @classmethod
    def from_env(cls, env: Mapping[str, str], *, cwd: Path | None = None, check: bool = True) -> Settings:
        """Parse ``WALLETPASS_*`` variables; relative paths are taken from *cwd*.

        *check* False skips :meth:`check` (``walletpass doctor`` reports what it would refuse, with the rest).
        """
        cwd = cwd or Path.cwd()
        raw = {name: env[PREFIX + name] for name in ENV_VARS if env.get(PREFIX + name, "") != ""}
        instance = _path(raw.pop("INSTANCE", "instance"), cwd)
        certs = _path(raw.pop("CERTS_DIR", "certs/dev"), cwd)
        kwargs: dict[str, object] = {}
        for name, value in raw.items():
            attr = ENV_VARS[name][0]
            kwargs[attr] = _coerce(cls, attr, name, value, cwd)
        kwargs.setdefault("database_url", f"sqlite:///{instance / 'walletpass.db'}")
        if "embedded_worker" not in kwargs:
            kwargs["embedded_worker"] = not kwargs.get("broker_url")
        settings = cls(instance_path=instance, certs_dir=certs, **kwargs)  # type: ignore[arg-type]
        if check:
            settings.check()
        return settings

    @classmethod
    def for_tests(cls, tmp_path: Path, **overrides: object) -> Settings:
        """Settings for a test: everything under *tmp_path*; SQLite unless overridden."""
        values: dict[str, object] = {
            "instance_path": tmp_path / "instance",
            "database_url": f"sqlite:///{tmp_path / 'instance' / 'walletpass.db'}",
            "certs_dir": tmp_path / "certs",
            "secret_key": "test-secret-key-0123456789abcdef",
            "embedded_worker": False,
            "push_coalesce_seconds": 0.0,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    def check(self) -> None:
        """Raise ConfigurationError for settings that cannot work."""
        parts = urlsplit(self.base_url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ConfigurationError(f"WALLETPASS_BASE_URL must be an http(s) URL, got {self.base_url!r}")
        if parts.scheme == "http" and not self.base_url_is_loopback:
            raise ConfigurationError(
                "WALLETPASS_BASE_URL must use https (Wallet only calls an https webServiceURL); "
                "http is allowed for a loopback address only"
            )
        if not self.google_issuer_id.isdigit():
            raise ConfigurationError("WALLETPASS_GOOGLE_ISSUER_ID must be the numeric issuer id from the "
                                     "Pay & Wallet Console")
        for ptid in self.pass_type_ids:
            if not ptid or "/" in ptid:
                raise ConfigurationError(f"invalid pass type id {ptid!r}")
        self._check_broker()
        self._check_mail()
        self._check_apns_key()
        self._check_samsung()

    @property
    def mail_sender(self) -> str:
        """The From address of the mails walletpass sends."""
        return self.mail_from or f"walletpass@{urlsplit(self.base_url).hostname}"

    def _check_mail(self) -> None:
        if self.smtp_url is not None:
            parts = urlsplit(self.smtp_url)
            if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
                raise ConfigurationError("WALLETPASS_SMTP_URL must be smtp://[user:password@]host[:port] or "
                                         "smtps://…, e.g. smtp://127.0.0.1:25")
        if self.mail_from is not None and "@" not in self.mail_from:
            raise ConfigurationError("WALLETPASS_MAIL_FROM must be an address such as cards@example.com")
        from limits import parse_many

        try:
            parse_many(self.join_rate_limit)
        except ValueError:
            raise ConfigurationError("WALLETPASS_JOIN_RATE_LIMIT: write limits such as 10/minute;50/hour") from None

    def _check_apns_key(self) -> None:
        if self.apns_key_file is None:
            if self.apns_key_id is not None:
                raise ConfigurationError("WALLETPASS_APNS_KEY_ID is set but WALLETPASS_APNS_KEY_FILE is not: set "
                                         "both (token-based APNs) or neither (the pass certificates)")
            return
        if self.apns_key_id is None or not _APPLE_ID.fullmatch(self.apns_key_id):
            raise ConfigurationError("WALLETPASS_APNS_KEY_ID: give the 10-character id of the .p8 key (upper-case "
                                     "letters and digits, e.g. ABC123DEFG; Keys page of the developer portal)")
        if not _APPLE_ID.fullmatch(self.apns_token_team_id):
            raise ConfigurationError(f"APNs token auth needs a 10-character Apple team id, got "
                                     f"{self.apns_token_team_id!r}: set WALLETPASS_APNS_TEAM_ID (or WALLETPASS_TEAM_ID)")

    def _check_samsung(self) -> None:
        if not self.samsung_partner_id:
            return
        limits = {"PARTNER_ID": (self.samsung_partner_id, 16), "CERTIFICATE_ID": (self.samsung_certificate_id, 64),
                  "LOYALTY_CARD_ID": (self.samsung_loyalty_card_id, 32), "COUPON_CARD_ID": (self.samsung_coupon_card_id,
                                                                                          32)}
        for name, (value, limit) in limits.items():
            if value is not None and not 0 < len(value) <= limit:
                raise ConfigurationError(f"WALLETPASS_SAMSUNG_{name}: at most {limit} characters (Partner Portal)")
        if not self.samsung_certificate_id:
            raise ConfigurationError("WALLETPASS_SAMSUNG_PARTNER_ID is set but WALLETPASS_SAMSUNG_CERTIFICATE_ID is "
                                     "not: give the id of the partner certificate (Partner Portal)")
        if not (self.samsung_loyalty_card_id or self.samsung_coupon_card_id):
            raise ConfigurationError("Samsung Wallet needs WALLETPASS_SAMSUNG_LOYALTY_CARD_ID or "
                                     "WALLETPASS_SAMSUNG_COUPON_CARD_ID (a Card ID from the Partner Portal)")
        if urlsplit(self.samsung_api_url).scheme not in {"http", "https"}:
            raise ConfigurationError("WALLETPASS_SAMSUNG_API_URL must be an http(s) URL")

    def _check_broker(self) -> None:
        if self.broker_url is not None and urlsplit(self.broker_url).scheme not in {"redis", "rediss"}:
            scheme = urlsplit(self.broker_url).scheme or "no scheme"
            raise ConfigurationError(f"WALLETPASS_BROKER_URL must be a redis:// or rediss:// URL (got "
                                     f"{scheme}); e.g. redis://127.0.0.1:6379/0")
        if not _QUEUE_NAME.fullmatch(self.broker_queue):
            raise ConfigurationError("WALLETPASS_BROKER_QUEUE: use 1-100 letters, digits, '.', '_' or '-'")
        if self.campaign_rate < 0:
            raise ConfigurationError("WALLETPASS_CAMPAIGN_RATE must be 0 (measured) or more")
        if not 0 < self.webhook_timeout <= 60:
            raise ConfigurationError("WALLETPASS_WEBHOOK_TIMEOUT must be more than 0 and at most 60 seconds")
        if self.sweep_seconds <= 0:
            raise ConfigurationError("WALLETPASS_SWEEP_SECONDS must be more than 0")


def _path(value: str, cwd: Path) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else (cwd / p)


def _coerce(cls: type, attr: str, name: str, value: str, cwd: Path) -> object:
    hint = str(cls.__dataclass_fields__[attr].type)  # type: ignore[attr-defined]
    try:
        if "Path" in hint:
            return _path(value, cwd)
        if hint == "bool":
            if value.lower() in {"1", "true", "yes", "on"}:
                return True
            if value.lower() in {"0", "false", "no", "off"}:
                return False
            raise ValueError(value)
        if hint == "int":
            return int(value)
        if hint == "float":
            return float(value)
    except ValueError:
        raise ConfigurationError(f"{PREFIX}{name}: cannot read {value!r} as {hint}") from None
    return value
