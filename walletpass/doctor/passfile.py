"""``walletpass doctor FILE.pkpass``: why this pass would not open, each finding with its rule and fix (PURE).

The checks follow what Wallet and the known validators check (apple.md §1, §2, §5): the zip layout (files at the
root, no symlinks, no stray files), the manifest (every file listed with the right SHA-1, nothing missing), the
detached CMS signature (:mod:`walletpass.doctor.cms`), the signer chain (Apple WWDR G4, or walletpass's
development stand-in, which an iPhone refuses), the certificate's ids against pass.json, pass.json itself (the
same validators the builder runs before signing: :func:`walletpass.pkpass.passjson.problems`), the images and
the localizations.
"""

from __future__ import annotations

import io
import json
import stat
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from walletpass.devpki import STAND_IN_ORG
from walletpass.doctor.cms import verify_detached
from walletpass.doctor.findings import FAIL, OK, WARN, Finding
from walletpass.errors import InvalidInput, InvalidPass
from walletpass.hosts import is_loopback
from walletpass.pkpass import passjson
from walletpass.pkpass.manifest import UNLISTED, sha1_hex
from walletpass.pkpass.strings import parse_strings

#: SHA-256 fingerprint of Apple's WWDR G4 intermediate (apple.md §1.4).
APPLE_WWDR_G4_SHA256 = "EA4757885538DD8CB59FF4556F676087D83C85E70902C122E42C0808B5BCE14C"
WWDR_CN = "Apple Worldwide Developer Relations Certification Authority"
DEV_CHAIN_WARNING = ("AN IPHONE WILL REFUSE THIS PASS: it is signed by walletpass's development stand-in CA, not "
                     "by Apple's WWDR G4")
DEV_CHAIN_FIX = ("create a Pass Type ID certificate in the Apple Developer portal, import it (walletpass certs "
                 "import-p12) and set WALLETPASS_WWDR_CERT_FILE to Apple's AppleWWDRCAG4.cer")
_MAX_ENTRIES = 1000


def _attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else ""


def chain_kind(cert: x509.Certificate) -> str:
    """``"apple-g4"`` (Apple's own G4, by fingerprint), ``"dev"`` (walletpass's stand-in), ``"other-wwdr"`` (a WWDR
    that is not G4, e.g. the expired G1) or ``"unknown"``."""
    if cert.fingerprint(hashes.SHA256()).hex().upper() == APPLE_WWDR_G4_SHA256:
        return "apple-g4"
    if STAND_IN_ORG in (_attr(cert.subject, NameOID.ORGANIZATION_NAME), _attr(cert.issuer, NameOID.ORGANIZATION_NAME)):
        return "dev"
    if _attr(cert.subject, NameOID.COMMON_NAME) == WWDR_CN:
        return "other-wwdr"
    return "unknown"


@dataclass(slots=True)
class _Ids:
    pass_type_identifier: str
    team_identifier: str


class _Report:
    def __init__(self) -> None:
        self.findings: list[Finding] = []

    def add(self, check: str, level: str, detail: str, fix: str = "", rule: str = "") -> None:
        self.findings.append(Finding(check, level, detail, fix, rule))


def inspect_pkpass(data: bytes, now: datetime) -> list[Finding]:
    """Every reason found why *data* (a ``.pkpass``) would not open in Wallet as of *now*; ok lines for the
    checks that pass."""
    r = _Report()
    files = _read_zip(data, r)
    if files is None:
        return r.findings
    manifest = _check_manifest(files, r)
    pass_json = _load_pass_json(files, r)
    signer = _check_signature(files, manifest, r)
    if signer is not None:
        _check_signer(signer, pass_json, now, r)
    strings = _check_localizations(files, r)
    if pass_json is not None:
        _check_pass_json(pass_json, files, strings, r)
    _check_images(files, r)
    return r.findings


def _read_zip(data: bytes, r: _Report) -> dict[str, bytes] | None:
    rule = "apple.md §1.1: a .pkpass is a zip of the pass folder's contents"
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
        if len(infos) > _MAX_ENTRIES:
            r.add("zip", FAIL, f"{len(infos)} entries", "a pass holds a few dozen files at most", rule)
            return None
        files: dict[str, bytes] = {}
        for info in infos:
            if info.is_dir():
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                r.add("zip", FAIL, f"{info.filename} is a symbolic link", "put the file itself in the archive",
                      "apple.md §5.3: signpass refuses symlinks")
                continue
            files[info.filename] = archive.read(info)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError, EOFError) as exc:
        r.add("zip", FAIL, f"not a readable zip archive ({exc})", "build the pass again; serve it as "
              "application/vnd.apple.pkpass without altering the bytes", rule)
        return None
    if "pass.json" not in files:
        nested = sorted(n for n in files if n.endswith("/pass.json"))
        if nested:
            folder = nested[0].rsplit("/", 1)[0]
            r.add("zip", FAIL, f"pass.json is inside the folder {folder}/, not at the root of the archive",
                  "zip the folder's contents, not the folder (cd into it, then zip -r ../x.pkpass .)", rule)
            return None
        else:
            r.add("zip", FAIL, "no pass.json in the archive", "a pass needs pass.json, manifest.json and signature",
                  rule)
    missing = [n for n in ("manifest.json", "signature") if n not in files]
    if missing:
        r.add("zip", FAIL, f"missing {', '.join(missing)}", "sign the pass: manifest.json lists every file's "
              "SHA-1, signature is the detached PKCS#7 of manifest.json", "apple.md §1.2-1.3")
    if "pass.json" in files and not missing:
        r.add("zip", OK, f"{len(files)} files at the root")
    return files


def _check_manifest(files: Mapping[str, bytes], r: _Report) -> bytes | None:
    raw = files.get("manifest.json")
    if raw is None:
        return None
    rule = "apple.md §1.2, §5.6 #8"
    try:
        manifest = json.loads(raw)
    except ValueError:
        r.add("manifest", FAIL, "manifest.json is not JSON", "write it as {\"file\": \"sha1 hex\", …}", rule)
        return raw
    if not isinstance(manifest, dict):
        r.add("manifest", FAIL, "manifest.json is not a JSON object", "write it as {\"file\": \"sha1 hex\", …}", rule)
        return raw
    bad = 0
    for name in sorted(n for n in files if n not in UNLISTED):
        listed = manifest.get(name)
        if listed is None:
            bad += 1
            r.add("manifest", FAIL, f"{name} is in the archive but not in manifest.json",
                  "remove stray files (.DS_Store, __MACOSX/) or build the manifest after adding every file", rule)
        elif not isinstance(listed, str) or listed.lower() != sha1_hex(files[name]):
            bad += 1
            r.add("manifest", FAIL, f"the SHA-1 of {name} differs from manifest.json: the file changed after "
                  "the pass was signed", "never edit a signed pass; change the source and build and sign again",
                  rule)
    for name in sorted(n for n in manifest if n not in files):
        bad += 1
        r.add("manifest", FAIL, f"manifest.json lists {name}, which is not in the archive",
              "build the manifest from the files actually packed", rule)
    if not bad:
        r.add("manifest", OK, f"{len(manifest)} files listed with matching SHA-1")
    return raw


def _load_pass_json(files: Mapping[str, bytes], r: _Report) -> dict[str, Any] | None:
    raw = files.get("pass.json")
    if raw is None:
        return None
    rule = "apple.md §5.6 #12"
    if raw.startswith(b"\xef\xbb\xbf"):
        r.add("pass.json", WARN, "starts with a UTF-8 byte-order mark", "save pass.json as UTF-8 without BOM", rule)
        raw = raw[3:]
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        r.add("pass.json", FAIL, f"not valid UTF-8 JSON ({exc})", "fix the syntax (a JSON linter names the line)",
              rule)
        return None
    if not isinstance(doc, dict):
        r.add("pass.json", FAIL, "not a JSON object", "pass.json is one object of pass keys", rule)
        return None
    return doc


def _check_signature(files: Mapping[str, bytes], manifest: bytes | None, r: _Report) -> x509.Certificate | None:
    sig = files.get("signature")
    if sig is None or manifest is None:
        return None
    result = verify_detached(sig, manifest)
    rule = "apple.md §1.3, §5.6 #2-3"
    if not result.ok:
        r.add("signature", FAIL, result.problem or "does not verify", result.fix, rule)
    else:
        when = f", signed {result.signing_time:%Y-%m-%d %H:%M} UTC" if result.signing_time else ""
        r.add("signature", OK, f"detached CMS signature of manifest.json verifies ({result.digest}{when})")
    if result.signer is not None:
        _check_chain(result.signer, result.certificates, r)
    return result.signer


def _check_chain(signer: x509.Certificate, certs: tuple[x509.Certificate, ...], r: _Report) -> None:
    rule = "apple.md §1.3-1.4, §5.6 #1"
    wwdr = next((c for c in certs if c is not signer and _attr(c.subject, NameOID.COMMON_NAME) == WWDR_CN), None)
    if wwdr is None:
        r.add("chain", FAIL, "the signature does not embed the Apple WWDR intermediate",
              "embed AppleWWDRCAG4 (openssl smime -certfile wwdr.pem)", rule)
        return
    kind = chain_kind(wwdr)
    if kind == "dev":
        r.add("chain", FAIL, DEV_CHAIN_WARNING, DEV_CHAIN_FIX, rule)
    elif kind == "other-wwdr":
        ou = _attr(wwdr.subject, NameOID.ORGANIZATIONAL_UNIT_NAME) or "no OU (G1)"
        r.add("chain", FAIL, f"the embedded WWDR intermediate is {ou}, not Apple's G4",
              "embed AppleWWDRCAG4.cer: only G4 signs Pass Type ID certificates made since 2022", rule)
    elif kind == "unknown":
        r.add("chain", FAIL, f"the embedded intermediate {wwdr.subject.rfc4514_string()} is not Apple's WWDR G4",
              "embed AppleWWDRCAG4.cer from apple.com/certificateauthority", rule)
    else:
        r.add("chain", OK, "Apple WWDR G4 embedded")
    try:
        signer.verify_directly_issued_by(wwdr)
    except (InvalidSignature, ValueError, TypeError):
        r.add("chain", FAIL, f"the signing certificate was not issued by the embedded WWDR "
              f"({_attr(wwdr.subject, NameOID.ORGANIZATIONAL_UNIT_NAME) or 'no OU'})",
              "embed the WWDR generation that issued your certificate (openssl x509 -noout -issuer)", rule)


def _check_signer(signer: x509.Certificate, pass_json: Mapping[str, Any] | None, now: datetime, r: _Report) -> None:
    rule = "apple.md §1.4, §5.6 #1, #10"
    uid = _attr(signer.subject, NameOID.USER_ID)
    team = _attr(signer.subject, NameOID.ORGANIZATIONAL_UNIT_NAME)
    end = signer.not_valid_after_utc
    if now >= end:
        r.add("certificate", FAIL, f"the signing certificate ({uid}) expired on {end:%Y-%m-%d}: new installs are "
              "refused (passes already installed keep working)", "renew the Pass Type ID certificate, import it "
              "and sign again", rule)
    elif now < signer.not_valid_before_utc:
        r.add("certificate", FAIL, f"the signing certificate is not valid before {signer.not_valid_before_utc:%Y-%m-%d}",
              "check the clock of the machine that signed", rule)
    else:
        r.add("certificate", OK, f"{uid} (team {team}) valid until {end:%Y-%m-%d} ({(end - now).days} days left)")
    if pass_json is None:
        return
    try:
        passjson.check_certificate_match(pass_json, _Ids(uid, team))
    except InvalidPass as exc:
        r.add(f"pass.json:{exc.field}", FAIL, _detail(exc).split(";")[0],
              _detail(exc).split(";", 1)[1].strip() if ";" in _detail(exc) else "", rule)


def _detail(exc: InvalidInput) -> str:
    return exc.errors[0].detail if exc.errors else exc.detail


def _check_localizations(files: Mapping[str, bytes], r: _Report) -> dict[str, dict[str, str]]:
    strings: dict[str, dict[str, str]] = {}
    rule = "apple.md §2.10"
    for name in sorted(files):
        if not name.endswith(".lproj/pass.strings"):
            continue
        locale = name[: -len(".lproj/pass.strings")]
        try:
            strings[locale] = parse_strings(files[name], field=name)
        except InvalidInput as exc:
            r.add("localization", FAIL, f"{name}: {_detail(exc)}", "write one \"key\" = \"value\"; per line, in "
                  "UTF-8 or UTF-16", rule)
    if strings:
        try:
            passjson.check_localizations(strings)
        except InvalidPass as exc:
            r.add("localization", FAIL, f"{exc.field}: {_detail(exc)}", "give every locale the same keys", rule)
        else:
            r.add("localization", OK, f"{len(strings)} locale(s): {', '.join(sorted(strings))}")
    return strings


def _check_pass_json(p: Mapping[str, Any], files: Mapping[str, bytes], strings: Mapping[str, Mapping[str, str]],
                     r: _Report) -> None:
    found = passjson.problems(p, files=list(files), strings=strings or None)
    for exc in found:
        detail = _detail(exc)
        what, _, fix = detail.partition("; ")
        if exc.field in passjson.REQUIRED_IMAGES:
            r.add("images", FAIL, f"{exc.field} is missing: Wallet does not open a pass without its icon",
                  "add icon.png (and icon@2x.png, icon@3x.png) to the pass", "apple.md §2.9, §5.6 #4")
            continue
        r.add(f"pass.json:{exc.field}", FAIL, what, fix, "apple.md §2, §5.6 (the builder's own validators)")
    url = p.get("webServiceURL")
    if isinstance(url, str) and not any(e.field in ("webServiceURL", "authenticationToken") for e in found):
        host = urlsplit(url).hostname or ""
        if urlsplit(url).scheme == "http" and is_loopback(host):
            r.add("pass.json:webServiceURL", WARN, f"{url} is http on a loopback address: no phone will call it "
                  "(only a simulator with 'Allow HTTP Services')", "set WALLETPASS_BASE_URL to the public https "
                  "URL and build the pass again", "apple.md §2.5, §6")
        if urlsplit(url).path.rstrip("/").endswith("/v1"):
            r.add("pass.json:webServiceURL", FAIL, f"{url} ends with /v1: devices add /v1/… themselves",
                  "give the base URL without /v1", "apple.md §3")
    if not found:
        r.add("pass.json", OK, f"{p.get('passTypeIdentifier')} serial {p.get('serialNumber')}: required keys, "
              "types, fields, barcodes, colours and web service pass the builder's validators")


def _png_size(data: bytes) -> tuple[int, int] | None:
    if not data.startswith(b"\x89PNG\r\n\x1a\n") or len(data) < 24 or data[12:16] != b"IHDR":
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _check_images(files: Mapping[str, bytes], r: _Report) -> None:
    rule = "apple.md §2.9, §5.6 #4"
    images = {n: d for n, d in files.items() if n.rsplit("/", 1)[-1].endswith(".png")}
    sizes: dict[str, tuple[int, int]] = {}
    for name, data in sorted(images.items()):
        size = _png_size(data)
        if size is None:
            r.add("images", FAIL, f"{name} is not a PNG image", "export it as PNG (Wallet reads PNG only)", rule)
        else:
            sizes[name] = size
    for name, (w, h) in sorted(sizes.items()):
        base = name[:-len(".png")]
        for scale in (2, 3):
            hi = sizes.get(f"{base}@{scale}x.png")
            if hi is not None and hi != (w * scale, h * scale):
                r.add("images", WARN, f"{base}@{scale}x.png is {hi[0]}×{hi[1]}, not {scale}× {name} ({w}×{h})",
                      f"make @{scale}x exactly {scale} times the 1x size so the image is sharp and not stretched",
                      rule)
    if "icon.png" in files and not any(f.check == "images" and f.level == FAIL for f in r.findings):
        icon = sizes.get("icon.png")
        r.add("images", OK, f"icon.png {icon[0]}×{icon[1]}" if icon else "icon.png present")


__all__ = ["APPLE_WWDR_G4_SHA256", "DEV_CHAIN_WARNING", "chain_kind", "inspect_pkpass"]
