"""walletpass.push.policy: the APNs answer table (apple.md §4) and the retry schedule."""

from __future__ import annotations

import random

import pytest

from walletpass.push.policy import (
    Outcome,
    PushOutcome,
    backoff_delay,
    classify,
    parse_error_body,
    short_token,
    should_retry,
)

TOKEN = "ab" * 32


@pytest.mark.parametrize(
    ("status", "reason", "kind"),
    [
        (200, "", Outcome.OK),
        (410, "Unregistered", Outcome.UNREGISTERED),
        (410, "ExpiredToken", Outcome.UNREGISTERED),
        (400, "BadDeviceToken", Outcome.UNREGISTERED),
        (429, "TooManyRequests", Outcome.RETRY),
        (500, "InternalServerError", Outcome.RETRY),
        (503, "ServiceUnavailable", Outcome.RETRY),
        (503, "Shutdown", Outcome.RETRY),
        (502, "", Outcome.RETRY),
        (0, "connection reset", Outcome.RETRY),
        (403, "BadCertificate", Outcome.FORBIDDEN),
        (403, "BadCertificateEnvironment", Outcome.FORBIDDEN),
        (400, "BadTopic", Outcome.ERROR),
        (400, "DeviceTokenNotForTopic", Outcome.ERROR),
        (400, "BadPriority", Outcome.ERROR),
        (400, "", Outcome.ERROR),
        (404, "BadPath", Outcome.ERROR),
        (405, "MethodNotAllowed", Outcome.ERROR),
        (413, "PayloadTooLarge", Outcome.ERROR),
    ],
)
def test_classification_table(status: int, reason: str, kind: Outcome) -> None:
    assert classify(status, reason) is kind
    assert PushOutcome(TOKEN, status, reason).kind is kind


def test_outcome_is_frozen_and_transport_failure_is_retry() -> None:
    outcome = PushOutcome.transport_failure(TOKEN, "GOAWAY")
    assert (outcome.status, outcome.reason, outcome.kind) == (0, "GOAWAY", Outcome.RETRY)
    with pytest.raises(AttributeError):
        outcome.status = 200  # type: ignore[misc]


@pytest.mark.parametrize("attempt", range(1, 12))
def test_backoff_stays_within_the_jittered_exponential_bounds(attempt: int) -> None:
    rng = random.Random(1234)
    ceiling = min(30.0, 0.5 * 2 ** (attempt - 1))
    delays = [backoff_delay(attempt, base=0.5, cap=30.0, rng=rng) for _ in range(200)]
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert len(set(delays)) > 100  # jittered, not one fixed value


def test_backoff_is_reproducible_with_a_seeded_rng_and_capped() -> None:
    first = [backoff_delay(a, rng=random.Random(7)) for a in range(1, 6)]
    again = [backoff_delay(a, rng=random.Random(7)) for a in range(1, 6)]
    assert first == again
    assert backoff_delay(1000, base=1.0, cap=5.0, rng=random.Random(0)) <= 5.0


def test_backoff_rejects_attempt_zero() -> None:
    with pytest.raises(ValueError):
        backoff_delay(0, rng=random.Random(0))


def test_only_retry_outcomes_are_retried_and_only_within_the_budget() -> None:
    assert should_retry(PushOutcome(TOKEN, 429), 1, 3)
    assert should_retry(PushOutcome(TOKEN, 0, "reset"), 2, 3)
    assert not should_retry(PushOutcome(TOKEN, 503), 3, 3)
    for status, reason in [(200, ""), (410, "Unregistered"), (403, "BadCertificate"), (400, "BadTopic")]:
        assert not should_retry(PushOutcome(TOKEN, status, reason), 1, 10)


@pytest.mark.parametrize(
    ("body", "parsed"),
    [
        (b'{"reason":"Unregistered","timestamp":1700000000000}', ("Unregistered", 1700000000000)),
        (b'{"reason":"BadDeviceToken"}', ("BadDeviceToken", None)),
        (b"", ("", None)),
        (b"not json", ("", None)),
        (b"[1,2]", ("", None)),
        (b'{"reason":5,"timestamp":"x"}', ("", None)),
        (b"\xff\xfe", ("", None)),
    ],
)
def test_parse_error_body_never_raises(body: bytes, parsed: tuple[str, int | None]) -> None:
    assert parse_error_body(body) == parsed


def test_short_token_never_shows_a_token_in_full() -> None:
    assert short_token(TOKEN) == "abababab…"
    assert short_token("abcd") == "ab…"
    assert "abcd" not in short_token("abcd")
