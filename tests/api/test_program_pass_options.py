"""Program options for Apple's 2024–2026 pass keys: stored, shown, changed by PATCH, and bad values → 422
problem+json naming the field, nothing written."""

from __future__ import annotations

import json

import pytest

from tests.api.test_programs_members import _count, _post

OPTIONS = {
    "member_card_style": "posterGeneric", "footer_background_color": "#102030", "use_automatic_colors": True,
    "benefits_url": "https://example.com/benefits", "barcode_format": "ean13", "coupon_relevant_dates": True,
    "coupon_sharing_prohibited": True,
}
DEFAULTS = {
    "member_card_style": "storeCard", "footer_background_color": None, "use_automatic_colors": False,
    "benefits_url": None, "barcode_format": "qr", "coupon_relevant_dates": False, "coupon_sharing_prohibited": False,
}


def _patch(client, url, body, auth):  # type: ignore[no-untyped-def]
    return client.patch(url, data=json.dumps(body), headers=auth, content_type="application/json")


def test_defaults_shown(client, auth) -> None:  # type: ignore[no-untyped-def]
    r = _post(client, "/api/v1/programs", {"name": "P", "organization_name": "O"}, auth)
    assert r.status_code == 201, r.json
    got = client.get(f"/api/v1/programs/{r.json['id']}", headers=auth).json
    assert {k: got[k] for k in DEFAULTS} == DEFAULTS


def test_options_stored_shown_and_patched(client, auth) -> None:  # type: ignore[no-untyped-def]
    r = _post(client, "/api/v1/programs", {"name": "P", "organization_name": "O", **OPTIONS}, auth)
    assert r.status_code == 201, r.json
    url = f"/api/v1/programs/{r.json['id']}"
    got = client.get(url, headers=auth).json
    assert {k: got[k] for k in OPTIONS} == {**OPTIONS, "footer_background_color": "rgb(16, 32, 48)"}
    version = got["version"]
    r = _patch(client, url, {"footer_background_color": None, "barcode_format": "code39"}, auth)
    assert r.status_code == 200, r.json
    assert r.json["footer_background_color"] is None and r.json["barcode_format"] == "code39"
    assert r.json["member_card_style"] == "posterGeneric" and r.json["version"] == version + 1
    r = _patch(client, url, {k: v for k, v in DEFAULTS.items()}, auth)
    assert {k: r.json[k] for k in DEFAULTS} == DEFAULTS


@pytest.mark.parametrize(("field", "value", "needle"), [
    ("member_card_style", "poster", "must be one of ['storeCard', 'posterGeneric']"),
    ("footer_background_color", "rgb(255-0-0)", "is not a colour"),
    ("footer_background_color", "rgb(300, 0, 0)", "0–255"),
    ("use_automatic_colors", "yes", "boolean"),
    ("benefits_url", "http://example.com/benefits", "is not an https:// URL"),
    ("benefits_url", "benefits", "is not an https:// URL"),
    ("benefits_url", "https://[::::]/b", "is not an https URL"),
    ("barcode_format", "upc", "must be one of ['qr', 'ean13', 'code39', 'codabar', 'itf']"),
    ("barcode_format", "PKBarcodeFormatEAN13", "must be one of ['qr', 'ean13', 'code39', 'codabar', 'itf']"),
    ("coupon_relevant_dates", 1, "boolean"),
    ("coupon_sharing_prohibited", None, "boolean"),
])
def test_bad_option_is_422_and_nothing_written(client, auth, services, field, value,
                                               needle) -> None:  # type: ignore[no-untyped-def]
    r = _post(client, "/api/v1/programs", {"name": "P", "organization_name": "O", field: value}, auth)
    assert r.status_code == 422, r.json
    assert r.mimetype == "application/problem+json"
    assert r.json["errors"][0]["field"] == field and needle in r.json["detail"]
    assert _count(services, "programs") == 0
    r = _post(client, "/api/v1/programs", {"name": "P", "organization_name": "O"}, auth)
    url = f"/api/v1/programs/{r.json['id']}"
    before = client.get(url, headers=auth).json
    r = _patch(client, url, {field: value}, auth)
    assert r.status_code == 422 and r.json["errors"][0]["field"] == field
    assert client.get(url, headers=auth).json == before


def test_a_members_card_follows_the_options(client, auth) -> None:  # type: ignore[no-untyped-def]
    import io
    import zipfile
    from urllib.parse import urlsplit

    r = _post(client, "/api/v1/programs", {"name": "P", "organization_name": "O"}, auth)
    url = f"/api/v1/programs/{r.json['id']}"
    m = _post(client, f"{url}/members", {"name": "Lin"}, auth).json

    def pass_json() -> dict:  # type: ignore[type-arg]
        got = client.get(urlsplit(m["links"]["pkpass"]).path)
        assert got.status_code == 200
        return json.loads(zipfile.ZipFile(io.BytesIO(got.data)).read("pass.json"))

    plain = pass_json()
    assert "posterGeneric" not in plain and [b["format"] for b in plain["barcodes"]] == ["PKBarcodeFormatQR"]
    r = _patch(client, url, {"member_card_style": "posterGeneric", "barcode_format": "ean13",
                             "benefits_url": "https://example.com/benefits"}, auth)
    assert r.status_code == 200, r.json
    poster = pass_json()
    assert "storeCard" in poster and "posterGeneric" in poster
    assert [b["format"] for b in poster["barcodes"]] == ["PKBarcodeFormatEAN13", "PKBarcodeFormatQR"]
    assert poster["barcodes"][0]["message"][:12] == m["member_number"]
    assert poster["featuredActions"][0]["url"] == "https://example.com/benefits"
