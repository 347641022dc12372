"""The .pkpass ZIP: deterministic bytes, PNGs stored, text deflated (apple.md §1.1, §1.6).

A small ZIP writer instead of :mod:`zipfile`: each :class:`Entry` is encoded once (local header, data,
central-directory record), so a program's images are compressed, CRC'd and hashed a single time and every
later pass only joins prepared bytes. Entries are written sorted by name, with a fixed timestamp
(1980-01-01 00:00, the ZIP epoch) and fixed attributes, so the same files give the same archive.
PNG data is already compressed, so deflating it costs CPU and saves nothing: it is STORED.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from walletpass.errors import InvalidInput
from walletpass.pkpass.manifest import sha1_hex

STORED, DEFLATED = 0, 8
_DOS_TIME, _DOS_DATE = 0, (0 << 9) | (1 << 5) | 1  # 1980-01-01 00:00:00
_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHI")  # up to (not including) the local-header offset
_EOCD = struct.Struct("<IHHHHIIH")
_OFFSET = struct.Struct("<I")
_UNIX_FILE_0644 = (0o100644 << 16)
_MADE_BY = (3 << 8) | 20  # Unix, spec 2.0
_MAX = 0xFFFFFFFF

#: Largest .pkpasses bundle Apple accepts (apple.md §1.6).
MAX_BUNDLE_PASSES = 10


@dataclass(frozen=True, slots=True)
class Entry:
    """One prepared archive member: its bytes, SHA-1 (for the manifest) and encoded ZIP records."""

    name: str
    data: bytes
    sha1: str
    local_record: bytes   # local header + (compressed) data
    central_prefix: bytes  # central-directory header up to the offset field
    raw_name: bytes


def make_entry(name: str, data: bytes, *, compress: bool | None = None, sha1: str | None = None) -> Entry:
    """Encode *data* as archive member *name*; PNGs are stored, other files deflated unless *compress* says.

    *sha1* may be given when known; pass ``""`` for files the manifest does not list (manifest, signature).
    """
    if compress is None:
        compress = not name.endswith(".png")
    raw_name = name.encode("ascii")  # pass file names are ASCII (icon@2x.png, zh-Hant.lproj/pass.strings)
    crc = zlib.crc32(data)
    if compress:
        # Raw deflate. Small files (pass.json, manifest.json: a few KB) get a 1 KB window and small
        # state: same size within a few bytes, ~4x faster than the 32 KB default, which is costly to set up.
        wbits, mem = (-10, 4) if len(data) <= 16384 else (-15, 8)
        co = zlib.compressobj(6, zlib.DEFLATED, wbits, mem)
        body = co.compress(data) + co.flush()
        method = DEFLATED
    else:
        body, method = data, STORED
    if len(data) > _MAX or len(body) > _MAX:
        raise InvalidInput(name, "file is larger than 4 GB; a pass must stay small")
    local = _LOCAL.pack(0x04034B50, 20, 0, method, _DOS_TIME, _DOS_DATE, crc, len(body), len(data),
                        len(raw_name), 0) + raw_name + body
    central = _CENTRAL.pack(0x02014B50, _MADE_BY, 20, 0, method, _DOS_TIME, _DOS_DATE, crc, len(body), len(data),
                            len(raw_name), 0, 0, 0, 0, _UNIX_FILE_0644)
    return Entry(name, data, sha1 if sha1 is not None else sha1_hex(data), local, central, raw_name)


def write_zip(entries: Iterable[Entry]) -> bytes:
    """Return the ZIP archive of *entries*, sorted by name; a name may appear once."""
    ordered = sorted(entries, key=lambda e: e.name)
    parts: list[bytes] = []
    central: list[bytes] = []
    offset = 0
    previous = None
    for entry in ordered:
        if entry.name == previous:
            raise InvalidInput(entry.name, "appears twice in the pass; each file name must be unique")
        previous = entry.name
        parts.append(entry.local_record)
        central.append(entry.central_prefix + _OFFSET.pack(offset) + entry.raw_name)
        offset += len(entry.local_record)
    cd = b"".join(central)
    parts.append(cd)
    parts.append(_EOCD.pack(0x06054B50, 0, 0, len(ordered), len(ordered), len(cd), offset, 0))
    return b"".join(parts)


def write_files(files: Iterable[tuple[str, bytes]]) -> bytes:
    """Return a ZIP of ``(name, data)`` pairs (convenience over :func:`make_entry` + :func:`write_zip`)."""
    return write_zip(make_entry(name, data) for name, data in files)


def write_pkpasses(passes: Sequence[bytes]) -> bytes:
    """Bundle up to 10 .pkpass files as ``.pkpasses`` (``application/vnd.apple.pkpasses``, apple.md §1.6)."""
    if not passes:
        raise InvalidInput("passes", "give at least one pass")
    if len(passes) > MAX_BUNDLE_PASSES:
        raise InvalidInput("passes", f"a .pkpasses bundle holds at most {MAX_BUNDLE_PASSES} passes; split it")
    return write_zip(make_entry(f"packed-pass-{i}.pkpass", data, compress=False)
                     for i, data in enumerate(passes, start=1))
