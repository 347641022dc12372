"""Push notifications: the pure policy (``policy``) and the APNs adapter (``apns``).

Import the adapter from :mod:`walletpass.push.apns` directly; this package only re-exports the pure values so
that importing it opens no network code.
"""

from walletpass.push.policy import Outcome, PushOutcome, backoff_delay, classify, should_retry

__all__ = ["Outcome", "PushOutcome", "backoff_delay", "classify", "should_retry"]
