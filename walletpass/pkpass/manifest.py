"""``manifest.json``: the SHA-1 of every file in the pass (apple.md §1.2).

Apple's format is SHA-1 (signpass, pass-builder and every library use it); the *signature* over the manifest
uses SHA-256 (see signing.py). Images repeat across every pass of a program, so the builder hashes them
once and hands the digests in (:class:`walletpass.pkpass.package.Entry` carries its digest).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

#: Files that are never listed in the manifest.
UNLISTED = frozenset({"manifest.json", "signature"})


def sha1_hex(data: bytes) -> str:
    """Lower-case hex SHA-1 of *data*."""
    return hashlib.sha1(data).hexdigest()  # noqa: S324 - Apple's manifest format is SHA-1


def build_manifest(digests: Mapping[str, str]) -> bytes:
    """Return manifest.json bytes for *digests* (path → SHA-1 hex), keys sorted, compact, UTF-8."""
    listed = {k: v for k, v in digests.items() if k not in UNLISTED}
    return json.dumps(listed, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class ManifestBase:
    """The digests of a program's unchanging files, pre-encoded; add a pass's own files to get a manifest.

    ``ManifestBase(static).build(extra)`` gives the same bytes as ``build_manifest({**static, **extra})``
    without re-serialising the static part for every pass.
    """

    __slots__ = ("_fragments",)

    def __init__(self, digests: Mapping[str, str]) -> None:
        self._fragments = {k: _fragment(k, v) for k, v in digests.items() if k not in UNLISTED}

    def build(self, extra: Mapping[str, str]) -> bytes:
        frags = dict(self._fragments)
        for k, v in extra.items():
            if k not in UNLISTED:
                frags[k] = _fragment(k, v)
        return b"{" + b",".join(frags[k] for k in sorted(frags)) + b"}"


def _fragment(name: str, digest: str) -> bytes:
    return (json.dumps(name, ensure_ascii=False) + ":" + json.dumps(digest, ensure_ascii=False)).encode()


def manifest_for(files: Mapping[str, bytes]) -> bytes:
    """Hash every file (except manifest.json and signature) and return the manifest."""
    return build_manifest({name: sha1_hex(data) for name, data in files.items() if name not in UNLISTED})
