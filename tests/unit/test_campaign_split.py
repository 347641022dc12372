"""A/B and holdout, the pure part: the bucket hash spreads members like a fair coin (2,000 members, 50/50 and a
10 % holdout within a binomial tolerance, campaigns independent of each other), weights become bucket ranges, and
a campaign's message or variants are validated field by field."""

from __future__ import annotations

import math

import pytest

from walletpass.domain.campaigns import (
    BUCKETS,
    HASH_PRIME,
    MAX_VARIANTS,
    bucket,
    make_split,
    parse_content,
)
from walletpass.errors import InvalidInput

MEMBERS = range(1, 2001)  # sequential ids, as a fresh program's members get them
LOCALES = ["en", "zh-Hant"]


def within(count: int, n: int, p: float, sigmas: float = 4.0) -> bool:
    """Whether *count* successes of *n* draws is within *sigmas* standard deviations of a binomial(n, p)."""
    return abs(count - n * p) <= sigmas * math.sqrt(n * p * (1 - p))


def test_the_bucket_is_a_function_of_the_two_ids_only() -> None:
    assert [bucket(7, m) for m in (1, 2, 3)] == [bucket(7, m) for m in (1, 2, 3)]
    assert all(0 <= bucket(c, m) < BUCKETS for c in (1, 2**31 - 1) for m in (1, 2, 2**31 - 2, HASH_PRIME))
    assert len({bucket(c, 1) for c in range(1, 200)}) > 190  # the campaign moves every member


@pytest.mark.parametrize("campaign_id", [1, 2, 3, 17, 1000, 2**31 - 1])
def test_fifty_fifty_and_a_ten_per_cent_holdout_are_proportional(campaign_id: int) -> None:
    halves = make_split([1, 1], 0)
    a = sum(halves.variant(bucket(campaign_id, m)) == 0 for m in MEMBERS)
    assert within(a, len(MEMBERS), 0.5), a
    split = make_split([1, 1], 10)
    groups = [split.variant(bucket(campaign_id, m)) for m in MEMBERS]
    held = groups.count(None)
    assert within(held, len(MEMBERS), 0.1), held
    assert within(groups.count(0), len(MEMBERS) - held, 0.5) and groups.count(0) + groups.count(1) + held == 2000


def test_members_far_apart_in_id_are_spread_as_well() -> None:
    split = make_split([70, 30], 0)
    ids = range(5_000_000, 5_002_000)
    assert within(sum(split.variant(bucket(9, m)) == 0 for m in ids), len(ids), 0.7)


def test_two_campaigns_split_the_same_members_independently() -> None:
    # an affine hash alone would split every campaign as a shifted copy of the last; squaring breaks that
    for c in range(1, 40):
        both = sum(bucket(c, m) < BUCKETS // 2 and bucket(c + 1, m) < BUCKETS // 2 for m in MEMBERS)
        assert within(both, len(MEMBERS), 0.25), (c, both)


def test_every_bucket_decile_is_used_evenly() -> None:
    counts = [0] * 10
    for m in MEMBERS:
        counts[bucket(5, m) * 10 // BUCKETS] += 1
    chi2 = sum((k - 200) ** 2 / 200 for k in counts)
    assert chi2 < 27.9, counts  # the 99.9th percentile of chi-square with 9 degrees of freedom


def test_weights_become_bucket_ranges_after_the_holdout() -> None:
    split = make_split([70, 30], 10)
    assert split.holdout_below == 1000 and split.bounds == (7300, BUCKETS)
    assert [split.variant(b) for b in (0, 999, 1000, 7299, 7300, BUCKETS - 1)] == [None, None, 0, 0, 1, 1]
    assert make_split([1], 0).bounds == (BUCKETS,) and make_split([1], 0).variant(0) == 0
    assert make_split([1, 1, 1], 50).bounds == (6666, 8333, BUCKETS)
    assert make_split([1, 100, 100, 100, 100], 50).bounds[0] > 50  # the smallest weight still gets buckets


def test_a_message_or_variants() -> None:
    message, variants, holdout = parse_content({"message": "Hi", "holdout": 5}, LOCALES)
    assert message is not None and message.text("en") == "Hi" and variants == () and holdout == 5.0
    message, variants, holdout = parse_content(
        {"variants": [{"message": {"en": "A!", "zh-Hant": "甲"}, "weight": 3}, {"message": "B!", "name": "bold"}]},
        LOCALES)
    assert message is None and holdout == 0.0
    assert [(v.name, v.weight, v.message.text("zh-Hant")) for v in variants] == [("A", 3, "甲"), ("bold", 1, "B!")]


@pytest.mark.parametrize(("data", "field"), [
    ({}, "message"),
    ({"message": "x", "variants": [{"message": "a"}, {"message": "b"}]}, "variants"),
    ({"variants": [{"message": "a"}]}, "variants"),
    ({"variants": [{"message": "a"}] * (MAX_VARIANTS + 1)}, "variants"),
    ({"variants": "ab"}, "variants"),
    ({"variants": [{"message": "a"}, {"name": "B"}]}, "variants[1].message"),
    ({"variants": [{"message": "a"}, {"message": ""}]}, "variants[1].message"),
    ({"variants": [{"message": "a"}, {"message": {"fr": "b"}}]}, "variants[1].message.fr"),
    ({"variants": [{"message": "a", "weight": 0}, {"message": "b"}]}, "variants[0].weight"),
    ({"variants": [{"message": "a", "weight": -1}, {"message": "b"}]}, "variants[0].weight"),
    ({"variants": [{"message": "a", "weight": 1.5}, {"message": "b"}]}, "variants[0].weight"),
    ({"variants": [{"message": "a", "weight": True}, {"message": "b"}]}, "variants[0].weight"),
    ({"variants": [{"message": "a", "name": "X"}, {"message": "b", "name": " X "}]}, "variants[1].name"),
    ({"variants": [{"message": "a", "colour": "red"}, {"message": "b"}]}, "variants[0].colour"),
    ({"message": "x", "holdout": 51}, "holdout"),
    ({"message": "x", "holdout": -1}, "holdout"),
    ({"message": "x", "holdout": "10"}, "holdout"),
])
def test_bad_content_names_the_field(data: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_content(data, LOCALES)
    assert caught.value.errors[0].field == field, caught.value.errors
