"""``*.lproj/pass.strings``: write and read Apple's ``"key" = "value";`` files (apple.md §2.10).

Files are written UTF-16 with a byte-order mark, as Apple asks for non-ASCII text; keys are sorted so the
bytes are deterministic. Backslash, double quote, newline, carriage return and tab are escaped (unlike
passkit-generator, which escapes nothing and so breaks on a quote in a translation).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping

from walletpass.errors import InvalidInput

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ESCAPE_RE = re.compile(r'[\\"\n\r\t]')
_UNESCAPES = {"\\": "\\", '"': '"', "n": "\n", "r": "\r", "t": "\t", "'": "'"}

# One entry: "key" = "value";  (comments and blank lines between entries are allowed).
_ENTRY_RE = re.compile(r'\s*"((?:[^"\\]|\\.)*)"\s*=\s*"((?:[^"\\]|\\.)*)"\s*;', re.S)
_COMMENT_RE = re.compile(r"\s*(/\*.*?\*/|//[^\n]*)", re.S)
_SPACE_RE = re.compile(r"\s*")


def escape(text: str) -> str:
    """Escape *text* for the inside of a double-quoted pass.strings literal."""
    return _ESCAPE_RE.sub(lambda m: _ESCAPES[m.group(0)], text)


def unescape(text: str) -> str:
    """Undo :func:`escape` (also accepts ``\\'`` and ``\\Uxxxx``)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\" or i + 1 == len(text):
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt in "Uu" and re.fullmatch(r"[0-9a-fA-F]{4}", text[i + 2:i + 6]):
            out.append(chr(int(text[i + 2:i + 6], 16)))
            i += 6
            continue
        out.append(_UNESCAPES.get(nxt, nxt))
        i += 2
    return "".join(out)


def encode_strings(entries: Mapping[str, str]) -> bytes:
    """Return a pass.strings file for *entries*: sorted ``"k" = "v";`` lines, UTF-16 with BOM."""
    lines = [f'"{escape(k)}" = "{escape(v)}";\n' for k, v in sorted(entries.items())]
    # "utf-16" writes a BOM in native order; spell it out so the bytes do not depend on the CPU.
    return codecs.BOM_UTF16_LE + "".join(lines).encode("utf-16-le")


def decode_text(data: bytes, *, field: str = "pass.strings") -> str:
    """Decode a strings file: UTF-16 with a BOM, UTF-8 (with or without BOM) otherwise."""
    try:
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return data.decode("utf-16")
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(field, f"not valid UTF-8 or UTF-16 text ({exc.reason}); save the file as UTF-8") from None


def parse_strings(data: bytes, *, field: str = "pass.strings") -> dict[str, str]:
    """Parse a pass.strings file into a dict; raise InvalidInput naming the line that cannot be read."""
    text = decode_text(data, field=field)
    result: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        m = _COMMENT_RE.match(text, pos)
        if m:
            pos = m.end()
            continue
        pos = _SPACE_RE.match(text, pos).end()  # type: ignore[union-attr]
        if pos == len(text):
            break
        m = _ENTRY_RE.match(text, pos)
        if not m:
            line = text.count("\n", 0, pos) + 1
            raise InvalidInput(field, f'line {line}: expected "key" = "value"; entry')
        key, value = unescape(m.group(1)), unescape(m.group(2))
        if key in result:
            line = text.count("\n", 0, m.start()) + 1
            raise InvalidInput(field, f"line {line}: key {key!r} appears twice; keep one")
        result[key] = value
        pos = m.end()
    return result
