"""The programs API warns when a program's colours fail WCAG AA contrast on its passes (issue 11): saved all the
same (a warning, not a 422), named field by field, in POST, PATCH and GET answers."""

from __future__ import annotations

import json

from tests.helpers import post

READABLE = {"name": "Morning Light Rewards", "organization_name": "Morning Light",
            "background_color": "rgb(120, 72, 40)", "foreground_color": "rgb(255, 255, 255)",
            "label_color": "rgb(250, 220, 180)", "tiers": [{"name": "Bronze", "min_points": 0}]}


def test_a_readable_program_has_no_warnings(client, auth) -> None:  # type: ignore[no-untyped-def]
    r = post(client, "/api/v1/programs", auth, READABLE)
    assert r.status_code == 201 and r.json["warnings"] == []
    assert client.get(f"/api/v1/programs/{r.json['id']}", headers=auth).json["warnings"] == []


def test_colours_that_fail_aa_are_saved_with_a_warning_each(client, auth) -> None:  # type: ignore[no-untyped-def]
    body = {**READABLE, "background_color": "#f5d90a", "foreground_color": "#ffffff", "label_color": "#000000",
            "tiers": [{"name": "Bronze", "min_points": 0},
                      {"name": "Gold", "min_points": 2000, "background_color": "rgb(176, 132, 30)"}]}
    r = post(client, "/api/v1/programs", auth, body, key="contrast-1")
    assert r.status_code == 201
    warnings = r.json["warnings"]
    assert [(w["field"], w["against"]) for w in warnings] == [
        ("foreground_color", "background_color"), ("tiers[1].foreground_color", "tiers[1].background_color")]
    assert warnings[0]["ratio"] < 4.5 and warnings[0]["required"] == 4.5 and "4.5:1" in warnings[0]["detail"]
    pid = r.json["id"]
    assert client.get(f"/api/v1/programs/{pid}", headers=auth).json["background_color"] == "rgb(245, 217, 10)"
    # a retry answers the first answer, warnings included
    assert post(client, "/api/v1/programs", auth, body, key="contrast-1").json == r.json

    fixed = client.patch(f"/api/v1/programs/{pid}", headers=auth, content_type="application/json",
                         data=json.dumps({"foreground_color": "#1d1d1f"}))
    assert fixed.status_code == 200
    assert fixed.json["warnings"] == []  # near-black on yellow and on the gold tier both pass


def test_the_document_describes_the_warnings(client) -> None:  # type: ignore[no-untyped-def]
    doc = client.get("/api/v1/openapi.json").json
    schemas = doc["components"]["schemas"]
    assert "warnings" in schemas["ProgramView"]["properties"] and "warnings" in schemas["ProgramCreated"]["required"]
    assert set(schemas["ContrastWarning"]["required"]) == {"field", "against", "ratio", "required", "detail"}
    assert "smart" in schemas["Links"]["required"]
