"""Visits of the enrolment page: which requests count as a person's visit, and the ``src`` they came from. PURE.

A visit is counted per request, with no cookie: a GET (a HEAD, a browser's prefetch or a robot reads the page but
nobody visited it). Robots are told apart by user agent: search crawlers, the link previewers that fetch a link
as soon as it is pasted in a chat or a post (Facebook, Slack, WhatsApp, Telegram, LINE, Discord, iMessage's
preview, X, LinkedIn…), uptime monitors, and HTTP libraries and command-line tools (curl, wget, python-requests,
Go's and Java's clients…). A request with no user agent at all is no browser either.
"""

from __future__ import annotations

import re

#: Words in a user agent that only robots use (matched case-insensitively as substrings). The generic ``bot``,
#: ``crawl``, ``spider`` and ``preview`` catch most crawlers and previewers; the rest name the ones that do not
#: say so (``facebookexternalhit``, ``WhatsApp/2.x``, ``curl/8``…). Apps' in-app browsers (Instagram, LINE,
#: Telegram, Pinterest…) name the app too, and their visitors are people: only the apps' fetchers are listed.
BOT_MARKERS: tuple[str, ...] = (
    "bot", "crawl", "spider", "slurp", "preview", "facebookexternalhit", "facebookcatalog", "meta-externalagent",
    "whatsapp/", "line-poker", "embedly", "vkshare", "iframely", "qwantify", "headlesschrome", "lighthouse",
    "pingdom", "uptime", "statuscake", "site24x7", "feedfetcher", "mediapartners", "google-read-aloud",
    "googleother", "curl/", "wget/", "python-requests", "python-urllib", "python-httpx", "aiohttp", "httpie",
    "go-http-client", "java/", "okhttp", "apache-httpclient", "libwww-perl", "node-fetch", "axios/", "undici",
    "postmanruntime", "insomnia", "scrapy", "phantomjs", "werkzeug/",
)
# "bot" but not the CUBOT phones' model names ("Android 10; CUBOT X30").
_BOTS = re.compile("|".join(r"(?<!cu)bot" if m == "bot" else re.escape(m) for m in BOT_MARKERS), re.IGNORECASE)

#: What a ``src`` may be: a short name printed in a flyer's QR code (``flyer-a``, ``counter.2026``).
_SOURCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]{0,63}")


def is_bot(user_agent: str | None) -> bool:
    """Whether *user_agent* is a robot's (or missing): its visits are not counted."""
    return not user_agent or not user_agent.strip() or _BOTS.search(user_agent) is not None


def counts_as_visit(method: str, user_agent: str | None, purpose: str | None = None) -> bool:
    """Whether a request to the enrolment page is a person's visit: a GET by no robot that is no prefetch
    (*purpose*: the ``Sec-Purpose`` or ``Purpose`` header, ``prefetch`` when the browser only warms its cache)."""
    if method != "GET" or is_bot(user_agent):
        return False
    return not (purpose and "prefetch" in purpose.lower())


def parse_source(value: str | None) -> str | None:
    """The ``src`` of a visit as kept (1-64 letters, digits, ``.``, ``_``, ``~`` or ``-``, starting with a letter
    or digit), or None for none or anything else: a mistyped or tampered ``src`` is not worth an error page to a
    customer, and it is never stored."""
    if value is None:
        return None
    value = value.strip()
    return value if _SOURCE.fullmatch(value) else None
