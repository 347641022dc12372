"""Which wallet a visitor's device has, from its User-Agent — pure.

- ``ios``: iPhone, iPad and iPod, in any browser (Safari, Chrome ``CriOS``, Firefox ``FxiOS``, Edge ``EdgiOS``,
  in-app browsers): Apple Wallet. The smart link answers the ``.pkpass`` at once.
- ``android``: Android phones and tablets, Chrome, Samsung Internet (``SamsungBrowser``), Firefox and in-app
  browsers alike: Google Wallet. The smart link answers Google's save redirect.
- ``mac``: Safari on a Mac (and iPadOS, whose Safari asks for desktop sites and says "Macintosh"): Apple first,
  both offered, as a Mac can add a pass to the paired iPhone.
- ``desktop``: anything else (Windows, Linux, ChromeOS, bots, no header): both wallets and a QR code of the page
  to scan with the phone.
"""

from __future__ import annotations

import re

IOS, ANDROID, MAC, DESKTOP = "ios", "android", "mac", "desktop"

_IOS = re.compile(r"\b(iPhone|iPad|iPod)\b")
_ANDROID = re.compile(r"\bAndroid\b")
_MAC_SAFARI = re.compile(r"\bMacintosh\b.*\bVersion/[\d.]+.*\bSafari/")
_SAMSUNG_BROWSER = re.compile(r"\bSamsungBrowser/")
_NOT_SAFARI = re.compile(r"\b(Chrome|Chromium|Edg|OPR|Firefox)/")


def platform(user_agent: str | None) -> str:
    """``ios``, ``android``, ``mac`` or ``desktop`` for a User-Agent header (see the module's docstring)."""
    ua = user_agent or ""
    if _IOS.search(ua):
        return IOS
    if _ANDROID.search(ua):
        return ANDROID
    if _MAC_SAFARI.search(ua) and not _NOT_SAFARI.search(ua):
        return MAC
    return DESKTOP


def samsung_browser(user_agent: str | None) -> bool:
    """Samsung Internet (``SamsungBrowser/…``): a Galaxy phone, where Samsung Wallet is offered too."""
    return bool(_SAMSUNG_BROWSER.search(user_agent or ""))


def wallet_order(kind: str) -> tuple[str, str]:
    """The badges in the order a visitor on *kind* should see them: their own wallet first."""
    return ("google", "apple") if kind == ANDROID else ("apple", "google")
