"""The walletpass error tree.

Every error a user can cause or meet carries a stable ``code`` and a ``detail`` that says what to fix.
The HTTP shell maps classes to statuses in one table (``api/problems.py``); the CLI prints ``detail``
on one line and exits non-zero.

::

    WalletpassError
    ├── InvalidInput            bad request data: JSON, fields, types, images (422 / 400)
    │   ├── MalformedRequest    body is not parseable at all (400)
    │   ├── PayloadTooLarge     body or upload over its cap (413)
    │   ├── UnsupportedMediaType a Content-Type the route does not take (415)
    │   └── InvalidPass         pass.json would not open in Wallet (named key + what to do)
    │       └── DuplicateFieldKey
    ├── NotFound                no such resource (404)
    ├── Conflict                state forbids it: coupon already redeemed, overdraw (409)
    │   └── IdempotencyMismatch same Idempotency-Key, another body (422)
    ├── Unauthorized            missing/wrong credentials (401)
    ├── Forbidden               credentials lack the scope (403)
    ├── CredentialError         certificate / key problems: unreadable, expired, mismatched
    ├── ConfigurationError      settings that cannot work
    └── RemoteError             a remote service failed (APNs, Google, the database)
        ├── PushUnavailable     could not reach / talk to APNs
        ├── GoogleApiError      Google Wallet REST answered an error (keeps Google's message)
        ├── MailError           the mail server refused or could not be reached (``permanent``: a 5xx answer)
        └── DatabaseUnavailable the database dropped or refused the connection, or timed out (503 + Retry-After)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one input field: ``field`` is a dotted path, ``detail`` what to do."""

    field: str
    detail: str


class WalletpassError(Exception):
    """Base of every walletpass error."""

    code = "walletpass_error"
    title = "walletpass error"

    def __init__(self, detail: str, *, errors: Sequence[FieldError] = ()) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = tuple(errors)

    def __str__(self) -> str:
        return self.detail


class InvalidInput(WalletpassError):
    """Request data that cannot be accepted; ``field`` names what to fix."""

    code = "invalid_input"
    title = "Invalid input"

    def __init__(self, field: str, detail: str, *, errors: Sequence[FieldError] = ()) -> None:
        errs = tuple(errors) or (FieldError(field, detail),)
        super().__init__(f"{field}: {detail}" if field else detail, errors=errs)
        self.field = field

    @classmethod
    def many(cls, errors: Sequence[FieldError]) -> InvalidInput:
        """Build one error from several field errors (the first names the message)."""
        first = errors[0]
        exc = cls(first.field, first.detail, errors=errors)
        if len(errors) > 1:
            exc.detail = f"{exc.detail} (and {len(errors) - 1} more)"
        return exc


class MalformedRequest(InvalidInput):
    code = "malformed_request"
    title = "Malformed request"


class PayloadTooLarge(InvalidInput):
    code = "payload_too_large"
    title = "Payload too large"


class UnsupportedMediaType(InvalidInput):
    """The body's Content-Type is not one the route takes (415)."""

    code = "unsupported_media_type"
    title = "Unsupported media type"


class InvalidPass(InvalidInput):
    """A pass.json that Wallet would refuse to open."""

    code = "invalid_pass"
    title = "Invalid pass"


class DuplicateFieldKey(InvalidPass):
    code = "duplicate_field_key"

    def __init__(self, key: str) -> None:
        super().__init__(
            "fields",
            f"more than one field has the key {key!r}; field keys must be unique across all field groups",
        )
        self.key = key


class NotFound(WalletpassError):
    code = "not_found"
    title = "Not found"


class Conflict(WalletpassError):
    code = "conflict"
    title = "Conflict"


class IdempotencyMismatch(Conflict):
    code = "idempotency_mismatch"
    title = "Idempotency-Key reused with a different request"


class Unauthorized(WalletpassError):
    code = "unauthorized"
    title = "Unauthorized"


class Forbidden(WalletpassError):
    code = "forbidden"
    title = "Forbidden"


class CredentialError(WalletpassError):
    code = "credential_error"
    title = "Certificate or key problem"


class ConfigurationError(WalletpassError):
    code = "configuration_error"
    title = "Configuration error"


class RemoteError(WalletpassError):
    code = "remote_error"
    title = "Remote service error"


class PushUnavailable(RemoteError):
    code = "push_unavailable"
    title = "APNs unavailable"


class GoogleApiError(RemoteError):
    """Google Wallet REST answered an error; ``status`` and Google's ``reason`` are kept."""

    code = "google_api_error"
    title = "Google Wallet API error"

    def __init__(self, detail: str, *, status: int = 0, reason: str = "") -> None:
        super().__init__(detail)
        self.status = status
        self.reason = reason


class MailError(RemoteError):
    """The mail server (``WALLETPASS_SMTP_URL``) could not take a message: *permanent* when it refused it for good
    (a 5xx answer: a retry cannot help), else unreachable or busy (4xx, timeouts: try again later)."""

    code = "mail_error"
    title = "Mail not sent"

    def __init__(self, detail: str, *, permanent: bool = False) -> None:
        super().__init__(detail)
        self.permanent = permanent


class DatabaseUnavailable(RemoteError):
    """The database did not answer: connection lost (restart, failover, killed session), refused, or timed out.

    Nothing was committed unless the commit itself was cut off (then a retry with the same Idempotency-Key
    answers what the first one did). ``reason`` is the driver's one-line message, for the operator's log only.
    """

    code = "database_unavailable"
    title = "Database unavailable"

    def __init__(self, detail: str = "the database is unavailable; try again in a few seconds", *,
                 reason: str = "") -> None:
        super().__init__(detail)
        self.reason = reason


__all__ = [
    "Conflict",
    "ConfigurationError",
    "CredentialError",
    "DatabaseUnavailable",
    "DuplicateFieldKey",
    "FieldError",
    "Forbidden",
    "GoogleApiError",
    "IdempotencyMismatch",
    "InvalidInput",
    "InvalidPass",
    "MalformedRequest",
    "NotFound",
    "PayloadTooLarge",
    "PushUnavailable",
    "RemoteError",
    "Unauthorized",
    "UnsupportedMediaType",
    "WalletpassError",
]
