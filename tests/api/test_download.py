"""Enrol through the API, download the pass by its token, verify it with openssl."""

from __future__ import annotations

import io
import json
import zipfile

from tests.builders import make_program
from tests.helpers import check_manifest, verify_with_openssl


def test_enrol_download_verify(client, auth, services, tmp_path) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    r = client.post(f"/api/v1/programs/{pid}/members", json={"name": "陳小明", "points": 1250}, headers=auth)
    assert r.status_code == 201
    links = r.json["links"]
    path = links["pkpass"].split("://", 1)[1].split("/", 1)[1]
    dl = client.get("/" + path)
    assert dl.status_code == 200
    assert dl.mimetype == "application/vnd.apple.pkpass"
    assert 'filename="' in dl.headers["Content-Disposition"] and ".pkpass" in dl.headers["Content-Disposition"]
    verify_with_openssl(dl.data, services.settings.wwdr_path, tmp_path)
    with zipfile.ZipFile(io.BytesIO(dl.data)) as z:
        names = set(z.namelist())
        pass_json = json.loads(z.read("pass.json"))
    assert {"en.lproj/pass.strings", "zh-Hant.lproj/pass.strings", "zh-Hans.lproj/pass.strings"} <= names
    check_manifest(dl.data)  # the signature covers manifest.json; this checks manifest.json covers the files
    fields = {f["key"]: f for group in pass_json["storeCard"].values() for f in group}
    assert fields["points"]["value"] == 1250 and fields["member"]["value"] == "陳小明"
    assert pass_json["serialNumber"] == r.json["serial_number"]
    assert pass_json["webServiceURL"] == services.urls.web_service()
    assert len(pass_json["authenticationToken"]) >= 16
    # the page and an unknown token
    assert client.get("/" + links["page"].split("://", 1)[1].split("/", 1)[1]).status_code == 200
    assert client.get("/p/not-a-token/pass.pkpass").status_code == 404


def test_links_with_characters_no_token_has_are_404(client, services) -> None:  # type: ignore[no-untyped-def]
    # Found by fuzzing: a NUL in the token reached PostgreSQL, which refuses it in text → 500.
    for path in ("/p/abc%00def", "/p/abc%00def/pass.pkpass", "/p/abc%00def/google", "/p/%C3%A9t%C3%A9",
                 "/p/" + "a" * 65):
        r = client.get(path)
        assert r.status_code == 404 and r.mimetype == "application/problem+json", path
