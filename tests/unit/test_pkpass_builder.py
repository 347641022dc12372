"""PassBuilder: whole passes from the real templates, signed with the dev PKI; caching and refusals."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import zipfile

import pytest
from PIL import Image

from tests import pki as testpki
from tests.pki import COUPON_PTID, MEMBER_PTID, TEAM_ID
from walletpass.errors import ConfigurationError, InvalidInput, InvalidPass
from walletpass.pass_templates import load_templates
from walletpass.pkpass import PassBuilder, PassSigner, parse_strings
from walletpass.render.demo import (
    demo_coupon,
    demo_coupon_ref,
    demo_member,
    demo_offer,
    demo_pass_ref,
    demo_program,
)

TEMPLATES = load_templates()
LOCALES = ("en", "zh-Hans", "zh-Hant")


def signer_for(pki: testpki.TestPki, ptid: str) -> PassSigner:
    return PassSigner.from_pem(pki.cert(ptid).read_bytes(), pki.key(ptid).read_bytes(),
                               (pki.certs_dir / "wwdr-ca.pem").read_bytes())


@pytest.fixture(scope="module")
def signers(pki: testpki.TestPki) -> dict[str, PassSigner]:
    return {ptid: signer_for(pki, ptid) for ptid in (MEMBER_PTID, COUPON_PTID)}


@pytest.fixture
def builder(signers: dict[str, PassSigner]) -> PassBuilder:
    return PassBuilder(signers=signers, templates=TEMPLATES, team_id=TEAM_ID,
                       web_service_url="https://passes.example.com/")


def unzip(data: bytes) -> dict[str, bytes]:
    zf = zipfile.ZipFile(io.BytesIO(data))
    return {n: zf.read(n) for n in zf.namelist()}


def test_signer_reads_ids_from_certificate(signers: dict[str, PassSigner]) -> None:
    s = signers[MEMBER_PTID]
    assert (s.pass_type_identifier, s.team_identifier) == (MEMBER_PTID, TEAM_ID)


def test_member_pass_files(builder: PassBuilder) -> None:
    files = unzip(builder.build_member_pass(demo_program(), demo_member(), demo_pass_ref()))
    expected_images = {f"{s}{x}.png" for s in ("icon", "logo", "strip") for x in ("", "@2x", "@3x")}
    assert set(files) == expected_images | {"pass.json", "manifest.json", "signature"} | {
        f"{loc}.lproj/pass.strings" for loc in LOCALES}
    manifest = json.loads(files["manifest.json"])
    assert set(manifest) == set(files) - {"manifest.json", "signature"}
    assert all(hashlib.sha1(files[n]).hexdigest() == d for n, d in manifest.items())


@pytest.mark.parametrize("kind", ["member", "coupon"])
def test_all_three_lproj_utf16_same_keys(builder: PassBuilder, kind: str) -> None:
    if kind == "member":
        data = builder.build_member_pass(demo_program(), demo_member(), demo_pass_ref())
    else:
        data = builder.build_coupon_pass(demo_program(), demo_offer(), demo_coupon(), None, demo_coupon_ref())
    files = unzip(data)
    tables = {}
    for loc in LOCALES:
        raw = files[f"{loc}.lproj/pass.strings"]
        assert raw[:2] == b"\xff\xfe"  # UTF-16 LE BOM
        tables[loc] = parse_strings(raw)
    assert len({frozenset(t) for t in tables.values()}) == 1
    pass_json = json.loads(files["pass.json"])
    style = "storeCard" if kind == "member" else "coupon"
    for group in pass_json[style].values():
        for f in group:
            if "label" in f:
                assert all(f["label"] in t for t in tables.values()), f["label"]


def test_same_inputs_same_bytes_except_signature(builder: PassBuilder) -> None:
    a = unzip(builder.build_member_pass(demo_program(), demo_member(), demo_pass_ref()))
    b = unzip(builder.build_member_pass(demo_program(), demo_member(), demo_pass_ref()))
    a.pop("signature"), b.pop("signature")
    assert a == b


def test_prepared_images_are_cached_per_program_version(builder: PassBuilder) -> None:
    tpl = builder.template("member")
    first = builder.assets(tpl, demo_program())
    assert builder.assets(tpl, demo_program()) is first
    assert builder.assets(tpl, demo_program(version=2)) is not first


def test_coupon_strings_are_cached_per_offer_and_reuse_the_program_images(builder: PassBuilder) -> None:
    tpl = builder.template("coupon")
    offer = dataclasses.replace(demo_offer(), texts={"zh-Hant": {"title": "拿鐵送糕點"}})
    first = builder.assets(tpl, demo_program(), offer=offer)
    assert builder.assets(tpl, demo_program(), offer=dataclasses.replace(offer)) is first
    program_only = builder.assets(tpl, demo_program())
    images = [e for e in first.entries if e.name.endswith(".png")]
    assert images and all(any(e is p for p in program_only.entries) for e in images)  # reused, not re-rendered
    assert first.strings["zh-Hant"]["offer.title"] == "拿鐵送糕點"
    for changed in (dataclasses.replace(offer, texts={"zh-Hant": {"title": "拿鐵買一送一"}}),
                    dataclasses.replace(offer, discount="Free cookie"), demo_offer(2)):
        other = builder.assets(tpl, demo_program(), offer=changed)
        assert other is not first and other.strings != first.strings


def test_program_upload_overrides_template_image(builder: PassBuilder) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (300, 300), (0, 128, 255)).save(buf, format="PNG")
    files = unzip(builder.build_member_pass(demo_program(), demo_member(), demo_pass_ref(),
                                           images={"icon": buf.getvalue()}, images_key="blue"))
    icon = Image.open(io.BytesIO(files["icon@3x.png"])).convert("RGB")
    assert icon.size == (114, 114) and icon.getpixel((57, 57)) == (0, 128, 255)


def test_bad_program_upload_rejected(builder: PassBuilder) -> None:
    with pytest.raises(InvalidInput) as info:
        builder.build_member_pass(demo_program(), demo_member(), demo_pass_ref(), images={"logo": b"GIF89a"})
    assert info.value.field == "images.logo"


def test_invalid_colour_stops_the_build(builder: PassBuilder) -> None:
    program = dataclasses.replace(demo_program(), tiers=(), background_color="brown")
    with pytest.raises(InvalidPass) as info:
        builder.build_member_pass(program, demo_member(tier=None), demo_pass_ref())
    assert info.value.field == "backgroundColor"


def test_team_id_not_matching_certificate(signers: dict[str, PassSigner]) -> None:
    b = PassBuilder(signers=signers, templates=TEMPLATES, team_id="OTHERTEAM1", web_service_url="https://x.example/")
    with pytest.raises(InvalidPass) as info:
        b.build_member_pass(demo_program(), demo_member(), demo_pass_ref())
    assert info.value.field == "teamIdentifier"


def test_pass_type_signed_by_wrong_certificate(signers: dict[str, PassSigner]) -> None:
    b = PassBuilder(signers={MEMBER_PTID: signers[COUPON_PTID]}, templates=TEMPLATES, team_id=TEAM_ID,
                    web_service_url="https://x.example/")
    with pytest.raises(InvalidPass) as info:
        b.build_member_pass(demo_program(), demo_member(), demo_pass_ref())
    assert info.value.field == "passTypeIdentifier" and "UID" in info.value.detail


def test_missing_signer_is_a_configuration_error(signers: dict[str, PassSigner]) -> None:
    b = PassBuilder(signers={MEMBER_PTID: signers[MEMBER_PTID]}, templates=TEMPLATES, team_id=TEAM_ID,
                    web_service_url="https://x.example/")
    with pytest.raises(ConfigurationError, match=COUPON_PTID):
        b.build_coupon_pass(demo_program(), demo_offer(), demo_coupon(), None, demo_coupon_ref())


def test_http_web_service_url_refused_unless_loopback(signers: dict[str, PassSigner]) -> None:
    b = PassBuilder(signers=signers, templates=TEMPLATES, team_id=TEAM_ID, web_service_url="http://example.com/")
    with pytest.raises(InvalidPass, match="https"):
        b.build_member_pass(demo_program(), demo_member(), demo_pass_ref())
    ok = PassBuilder(signers=signers, templates=TEMPLATES, team_id=TEAM_ID, web_service_url="http://127.0.0.1:8000/")
    assert ok.build_member_pass(demo_program(), demo_member(), demo_pass_ref())


def test_mismatched_records_rejected(builder: PassBuilder) -> None:
    with pytest.raises(InvalidInput, match="belongs to offer"):
        builder.build_coupon_pass(demo_program(), demo_offer(2), demo_coupon(), None, demo_coupon_ref())
    with pytest.raises(InvalidInput, match="belongs to program"):
        builder.build_member_pass(demo_program(7), demo_member(), demo_pass_ref())
