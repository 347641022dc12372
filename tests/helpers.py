"""Helpers shared by test modules (test modules never import each other): what a device, a till and an operator
do, and checks made with independent tools."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import secrets
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
import zipfile
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from PIL import Image
from sqlalchemy import select, text

from tests.fakes.apns_server import FakeApns
from tests.pki import MEMBER_PTID, TEAM_ID
from tests.pki import TestPki as Pki
from walletpass import devpki
from walletpass.bootstrap import Services
from walletpass.config import Settings
from walletpass.google.callbacks import lv


def check_manifest(data: bytes) -> None:
    """Every file but manifest.json and signature is listed once, with the SHA-1 of its bytes (apple.md §1.2)."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        manifest = json.loads(z.read("manifest.json"))
        files = {n: z.read(n) for n in z.namelist() if n not in ("manifest.json", "signature")}
    assert manifest == {name: hashlib.sha1(body).hexdigest() for name, body in files.items()}


def verify_with_openssl(data: bytes, wwdr: Path, tmp: Path) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        (tmp / "manifest.json").write_bytes(z.read("manifest.json"))
        (tmp / "signature").write_bytes(z.read("signature"))
    subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(tmp / "signature"),
                    "-content", str(tmp / "manifest.json"), "-CAfile", str(wwdr),
                    "-purpose", "any", "-out", "/dev/null"], check=True, capture_output=True)


def count(services: Services, sql: str) -> int:
    with services.engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar_one() or 0)


def drain(services: Services) -> None:
    """Run the embedded worker until no job is due."""
    from walletpass.jobs.worker import Worker

    worker = Worker(services)
    while worker.run_once():
        pass


def pkpass_files(data: bytes) -> dict[str, bytes]:
    """The files of a .pkpass, by name."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist()}


def card_fields(pass_json: dict) -> dict[str, dict]:
    """The fields of a member card's pass.json, by key."""
    return {f["key"]: f for group in pass_json["storeCard"].values() if isinstance(group, list) for f in group}
def signatures(services: Services) -> float:
    """Passes signed by *services*' process so far (the walletpass_pass_signatures_total counter of /metrics)."""
    return services.registry.get_sample_value("walletpass_pass_signatures_total") or 0.0


def post(client, path: str, auth, body: object = None, key: str | None = None):  # type: ignore[no-untyped-def]
    headers = {**auth, **({"Idempotency-Key": key} if key else {})}
    if body is None:
        return client.post(path, headers=headers)
    data = body if isinstance(body, bytes) else json.dumps(body)
    return client.post(path, data=data, headers=headers, content_type="application/json")


def local(path_or_url: str) -> str:
    return "/" + path_or_url.split("://", 1)[1].split("/", 1)[1]


def make_offer(client, auth, program_id: int, **fields: object) -> int:  # type: ignore[no-untyped-def]
    body = {"title": "Free latte", "discount": "100%", "valid_until": "2026-12-31T23:59:00+08:00", **fields}
    r = post(client, f"/api/v1/programs/{program_id}/offers", auth, body)
    assert r.status_code == 201, r.json
    return int(r.json["id"])


def push_token() -> str:
    return secrets.token_hex(32)


class Device:
    """What an iPhone's Wallet does against our /v1 web service."""

    def __init__(self, client, pass_type_id: str) -> None:  # type: ignore[no-untyped-def]
        self.client = client
        self.id = secrets.token_hex(16)
        self.token = push_token()
        self.ptid = pass_type_id
        self.last_updated: str | None = None
        self.last_modified: str | None = None

    def register(self, serial: str, auth_token: str, body: object = None):  # type: ignore[no-untyped-def]
        return self.client.post(f"/v1/devices/{self.id}/registrations/{self.ptid}/{serial}",
                                data=json.dumps(body if body is not None else {"pushToken": self.token}),
                                headers={"Authorization": f"ApplePass {auth_token}"},
                                content_type="application/json")

    def list(self, since: str | None = None):  # type: ignore[no-untyped-def]
        q = f"?passesUpdatedSince={since}" if since is not None else ""
        return self.client.get(f"/v1/devices/{self.id}/registrations/{self.ptid}{q}")

    def fetch(self, serial: str, auth_token: str, if_modified_since: str | None = None):  # type: ignore[no-untyped-def]
        headers = {"Authorization": f"ApplePass {auth_token}"}
        if if_modified_since:
            headers["If-Modified-Since"] = if_modified_since
        return self.client.get(f"/v1/passes/{self.ptid}/{serial}", headers=headers)

    def unregister(self, serial: str, auth_token: str):  # type: ignore[no-untyped-def]
        return self.client.delete(f"/v1/devices/{self.id}/registrations/{self.ptid}/{serial}",
                                  headers={"Authorization": f"ApplePass {auth_token}"})


def pass_json(data: bytes) -> dict:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return json.loads(z.read("pass.json"))


def auth_token_of(client, member) -> str:  # type: ignore[no-untyped-def]
    path = "/" + member["links"]["pkpass"].split("://", 1)[1].split("/", 1)[1]
    return pass_json(client.get(path).data)["authenticationToken"]


def points_field(pj: dict) -> object:
    fields = [f for group in pj["storeCard"].values() if isinstance(group, list) for f in group]
    return next(f["value"] for f in fields if f["key"] == "points")


ISSUER = "3388000000022222222"


CALLBACK_ROOT = ec.generate_private_key(ec.SECP256R1())


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def der(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def callback_body(object_id: str, event: str = "save", nonce: str | None = None) -> bytes:
    now = datetime.now(UTC)
    inter = ec.generate_private_key(ec.SECP256R1())
    signed_key = json.dumps({"keyValue": b64(der(inter)), "keyExpiration": str(ms(now + timedelta(days=1)))})
    message = json.dumps({"classId": object_id.split(".")[0] + ".program-1", "objectId": object_id,
                          "eventType": event, "expTimeMillis": ms(now + timedelta(minutes=5)),
                          "count": 1, "nonce": nonce or str(uuid.uuid4())})
    key_sig = CALLBACK_ROOT.sign(lv("GooglePayPasses") + lv("ECv2SigningOnly") + lv(signed_key), ec.ECDSA(hashes.SHA256()))
    msg_sig = inter.sign(lv("GooglePayPasses") + lv(ISSUER) + lv("ECv2SigningOnly") + lv(message),
                         ec.ECDSA(hashes.SHA256()))
    return json.dumps({"signature": b64(msg_sig), "protocolVersion": "ECv2SigningOnly", "signedMessage": message,
                       "intermediateSigningKey": {"signedKey": signed_key, "signatures": [b64(key_sig)]}}).encode()


REPO_ROOT = Path(__file__).resolve().parents[1]


def worker_env(settings: Settings, apns: FakeApns, pki) -> dict[str, str]:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WALLETPASS_")}
    env.update({
        "WALLETPASS_INSTANCE": str(settings.instance_path), "WALLETPASS_DATABASE_URL": settings.database_url,
        "WALLETPASS_CERTS_DIR": str(pki.certs_dir), "WALLETPASS_APNS_URL": apns.url,
        "WALLETPASS_APNS_CA_FILE": str(pki.tls_ca_file), "WALLETPASS_JOB_LEASE_SECONDS": "2",
        "WALLETPASS_SECRET_KEY": "x" * 32, "PYTHONPATH": str(REPO_ROOT),
    })
    return env


def wait_until(pred, timeout: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


class BlackHole:
    """A TCP listener that accepts connections and never answers: an APNs that hangs mid-handshake."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _loop(self) -> None:
        try:
            while True:
                conn, _ = self.sock.accept()
                self.accepted.append(conn)
        except OSError:
            return

    def close(self) -> None:
        self.sock.close()
        for c in self.accepted:
            c.close()


def renew_identity(pki: Pki, cert: Path, key: Path) -> None:
    """What an operator does: put a newly issued certificate and key (same pass type, same WWDR) in place."""
    wwdr = devpki.Issued((pki.certs_dir / "wwdr-ca.pem").read_bytes(), (pki.certs_dir / "wwdr-ca.key").read_bytes())
    fresh = devpki.make_pass_type_cert(wwdr, MEMBER_PTID, TEAM_ID, datetime.now(UTC))
    for path, data in ((key, fresh.key_pem), (cert, fresh.cert_pem)):
        tmp = path.with_suffix(".new")
        tmp.write_bytes(data)
        tmp.replace(path)  # atomic, as a careful operator (or a deploy tool) would


def png(w: int, h: int, mode: str = "RGB", color: object = (200, 120, 40)) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, (w, h), color).save(buf, format="PNG")
    return buf.getvalue()


def jpeg(w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (10, 20, 30)).save(buf, format="JPEG", quality=80, progressive=True)
    return buf.getvalue()


def flat_png(w: int, h: int, rgb: bytes = b"\xc8\x78\x28") -> bytes:
    """A complete, valid w×h PNG of one colour, written row by row (never w×h pixels in memory): a 5000×5000 one
    is 73 KB that a decoder turns into 75 MB of pixels."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    row, packer = b"\0" + rgb * w, zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(h)) + packer.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def bomb_png(w: int, h: int) -> bytes:
    """A valid-looking PNG header declaring w×h pixels, with a few bytes of compressed zeros."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(b"\0" * 1000))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + idat + chunk(b"IEND", b"")



def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (for a server a test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_cli(tmp: Path, *args: str, input: str | None = None, extra: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    """`walletpass ARGS` in a process of its own, with an instance and certificates under *tmp*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WALLETPASS_")}
    env.update({"WALLETPASS_INSTANCE": str(tmp / "instance"), "WALLETPASS_CERTS_DIR": str(tmp / "certs"),
                "PYTHONPATH": str(REPO_ROOT), **(extra or {})})
    return subprocess.run([sys.executable, "-m", "api.cli", *args], env=env, cwd=tmp, capture_output=True,
                          text=True, input=input, timeout=120)


def encode_image(fmt: str, size: tuple[int, int] = (240, 240)) -> bytes:
    """A picture with detail (not one flat colour) in *fmt* (PNG, JPEG)."""
    img = Image.new("RGB", size)
    img.putdata([(x % 256, y % 256, (x * y) % 256) for y in range(size[1]) for x in range(size[0])])
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def put_image(client: Any, auth: dict[str, str], program_id: int, slot: str, data: bytes,
              content_type: str = "image/png") -> Any:
    """PUT /api/v1/programs/{id}/images/{slot} with the image's bytes as the body."""
    return client.put(f"/api/v1/programs/{program_id}/images/{slot}", data=data,
                      headers={**auth, "Content-Type": content_type})


# -- the enrolment page (tests/api/test_join*.py) ---------------------------------------------------------------

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/18.5 Mobile/15E148 Safari/604.1")
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def open_form(client: Any, path: str, **headers: str) -> tuple[Any, str]:
    r = client.get(path, headers={"User-Agent": IPHONE, **headers})
    assert r.status_code == 200, r.data
    return r, _TOKEN.search(r.get_data(as_text=True)).group(1)  # type: ignore[union-attr]


def submit(client: Any, path: str, token: str | None, ip: str = "198.51.100.7", **fields: str) -> Any:
    data = {"name": "Lin Mei", "email": "mei@example.com", "consent": "yes", **fields}
    if token is not None:
        data["csrf_token"] = token
    return client.post(path, data={k: v for k, v in data.items() if v is not None},
                       headers={"User-Agent": IPHONE}, environ_base={"REMOTE_ADDR": ip})


def members(services: Any) -> list[Any]:
    """The members' rows, oldest first."""
    from walletpass.storage.tables import MemberRow

    with services.engine.connect() as conn:
        return list(conn.execute(select(MemberRow).order_by(MemberRow.id)))
