"""Which app registered (samsung-android.md §2.6), from the hints each app gives, and the tokens each may send."""

from __future__ import annotations

import pytest

from walletpass.domain.devices import PushClient, detect_client, valid_push_token
from walletpass.errors import Unauthorized
from walletpass.services.apple_ws import parse_authorization

HEX = "ab" * 32
FCM = "dGVzdA:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx"

@pytest.mark.parametrize(("scheme", "ua", "pass_client", "url", "token", "attido", "expected"), [
    ("applepass", "PassbookUIService/1.0 CFNetwork/1410 Darwin/22.6.0", None, None, HEX, False, PushClient.APPLE),
    ("androidpass", "WalletPasses/3.6 (Linux; U; Android 14)", None, None, FCM, False, PushClient.WALLETPASSES),
    ("applepass", "WalletPasses/3.6 (Linux; U; Android 14)", None, None, FCM, False, PushClient.WALLETPASSES),
    ("applepass", "okhttp/4.12", "Passes", None, FCM, False, PushClient.PASS2U),
    ("attidopass", None, None, "http://push.passwallet.net", FCM, True, PushClient.PASSWALLET),
    ("applepass", None, None, "http://push.passwallet.net", FCM, False, PushClient.PASSWALLET),
    ("applepass", "FossWallet", None, None, "0f8fad5b-d9cb-469f-a165-70867728950e", False, PushClient.POLL),
    ("walletunionpass", None, None, None, FCM, False, PushClient.POLL),
])
def test_each_app_is_told_apart(scheme, ua, pass_client, url, token, attido, expected) -> None:  # type: ignore[no-untyped-def]
    assert detect_client(scheme, ua, pass_client, url, token, attido_route=attido) is expected

def test_tokens_hex_for_apple_fcm_ids_up_to_4_kb_for_the_apps() -> None:
    assert valid_push_token(PushClient.APPLE, HEX)
    assert not valid_push_token(PushClient.APPLE, FCM)
    assert valid_push_token(PushClient.WALLETPASSES, FCM)
    assert valid_push_token(PushClient.PASS2U, "a" * 4096)
    assert not valid_push_token(PushClient.PASS2U, "a" * 4097)
    assert not valid_push_token(PushClient.PASSWALLET, "spaces are not in a token")

@pytest.mark.parametrize("header", ["ApplePass t0k", "applepass t0k", "ANDROIDPASS t0k", "AttidoPass t0k",
                                    "walletUnionHMSPass t0k"])
def test_schemes_in_any_case(header: str) -> None:
    assert parse_authorization(header)[1] == "t0k"

@pytest.mark.parametrize("header", [None, "", "Bearer t0k", "ApplePasses t0k", "ApplePass", "ApplePass " + "t" * 257])
def test_other_schemes_are_401(header: str | None) -> None:
    with pytest.raises(Unauthorized):
        parse_authorization(header)
