"""Which requests to the enrolment page count as a person's visit, and which ``src`` values are kept."""

from __future__ import annotations

import pytest

from walletpass.domain.visits import counts_as_visit, is_bot, parse_source

PEOPLE = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 "
    "Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile "
    "Safari/537.36",
    "Mozilla/5.0 (Linux; Android 10; CUBOT X30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile "
    "Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 "
    "Safari Line/13.1.0",  # LINE's in-app browser: a person
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 "
    "Instagram 300.0.0.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
]
ROBOTS = [
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "WhatsApp/2.23.20.0 A",
    "TelegramBot (like TwitterBot)",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Twitterbot/1.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) Version/9.0.1 "
    "Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0",  # iMessage's link preview
    "facebookexternalhit/1.1;line-poker/1.0",
    "Discordbot/2.0; +https://discordapp.com",
    "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    "curl/8.5.0", "Wget/1.21.4", "python-requests/2.32.3", "python-httpx/0.28.1", "Go-http-client/2.0",
    "okhttp/4.12.0", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0 "
    "Safari/537.36", "UptimeRobot/2.0", "", "   ", None,
]


@pytest.mark.parametrize("agent", PEOPLE)
def test_people_are_no_robots(agent: str) -> None:
    assert not is_bot(agent) and counts_as_visit("GET", agent)


@pytest.mark.parametrize("agent", ROBOTS)
def test_robots_and_previewers_are(agent: str | None) -> None:
    assert is_bot(agent) and not counts_as_visit("GET", agent)


def test_only_a_get_that_is_no_prefetch_is_a_visit() -> None:
    assert not counts_as_visit("HEAD", PEOPLE[0])
    assert not counts_as_visit("POST", PEOPLE[0])
    assert not counts_as_visit("GET", PEOPLE[0], "prefetch;prerender")
    assert counts_as_visit("GET", PEOPLE[0], None)


@pytest.mark.parametrize(("raw", "kept"), [
    ("flyer-a", "flyer-a"), (" flyer-a ", "flyer-a"), ("counter.2026_b~1", "counter.2026_b~1"), ("a" * 64, "a" * 64),
    ("a" * 65, None), ("", None), (None, None), ("-flyer", None), ("flyer a", None), ("<script>", None),
    ("flyer/a", None), ("傳單", None),
])
def test_sources(raw: str | None, kept: str | None) -> None:
    assert parse_source(raw) == kept
