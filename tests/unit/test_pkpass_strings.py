"""pass.strings: UTF-16 with BOM, sorted, escaped; the parser reads back what the writer wrote."""

from __future__ import annotations

import codecs

import pytest

from walletpass.errors import InvalidInput
from walletpass.pkpass.strings import encode_strings, escape, parse_strings


def test_utf16_with_bom_and_sorted_lines() -> None:
    data = encode_strings({"b": "點數", "a": "Points"})
    assert data.startswith(codecs.BOM_UTF16_LE)
    assert data.decode("utf-16") == '"a" = "Points";\n"b" = "點數";\n'


@pytest.mark.parametrize(("raw", "escaped"), [
    ('say "hi"', 'say \\"hi\\"'),
    ("back\\slash", "back\\\\slash"),
    ("two\nlines", "two\\nlines"),
    ("cr\r\ttab", "cr\\r\\ttab"),
])
def test_escaping(raw: str, escaped: str) -> None:
    assert escape(raw) == escaped
    assert f'"k" = "{escaped}";' in encode_strings({"k": raw}).decode("utf-16")


def test_round_trip_with_tricky_text() -> None:
    table = {"quote\"key": 'a "b" \\ c\nd', "change.points": "您現在有 %@ 點", "emoji": "☕️ 🌅"}
    assert parse_strings(encode_strings(table)) == table


def test_deterministic() -> None:
    assert encode_strings({"x": "1", "y": "2"}) == encode_strings({"y": "2", "x": "1"})


def test_parser_reads_utf8_sources_with_comments() -> None:
    src = b'/* header */\n// line comment\n"a" = "A";\n\n"b"="B\\n";  /* trailing */\n'
    assert parse_strings(src) == {"a": "A", "b": "B\n"}


def test_parser_names_the_bad_line() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_strings(b'"a" = "A";\n"b" = B;\n', field="en.lproj/pass.strings")
    assert info.value.field == "en.lproj/pass.strings" and "line 2" in info.value.detail


def test_parser_rejects_duplicate_keys() -> None:
    with pytest.raises(InvalidInput, match="appears twice"):
        parse_strings(b'"a" = "1";\n"a" = "2";\n')


def test_parser_rejects_undecodable_bytes() -> None:
    with pytest.raises(InvalidInput, match="UTF-8"):
        parse_strings(b'"a" = "\xff\xfe\xfa";')
