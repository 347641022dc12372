"""The barcodes of a pass: the QR code every iOS draws, and iOS 27's 1-D codes for tills before it (apple.md §2.4).

Pure: which messages each 1-D format can carry (EAN-13 with its check digit, Code 39, Codabar, ITF), and the
``barcodes`` list of a pass for a program's ``barcode_format``.
"""

from __future__ import annotations

import re
from typing import Any

QR = "PKBarcodeFormatQR"
#: 1-D formats Wallet draws from iOS 27 on; older iOS needs a format it knows in the list too (apple.md §2.4).
NEW_BARCODE_FORMATS = ("PKBarcodeFormatEAN13", "PKBarcodeFormatCode39", "PKBarcodeFormatCodabar",
                       "PKBarcodeFormatI2of5")


def ean13_check_digit(digits: str) -> str:
    """The EAN-13 check digit of 12 digits (weights 1, 3, 1, 3, … from the left)."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits))
    return str((10 - total % 10) % 10)


_CODE39 = re.compile(r"[0-9A-Z \-.$/+%]+")
_CODABAR = re.compile(r"[A-D][0-9\-$:/.+]+[A-D]|[0-9\-$:/.+]+")


def barcode_content_problem(fmt: str, message: str) -> str | None:
    """Why *message* cannot be drawn as the 1-D *fmt* (one of NEW_BARCODE_FORMATS), or None when it can."""
    if fmt == "PKBarcodeFormatEAN13":
        if not (len(message) == 13 and message.isascii() and message.isdigit()):
            return f"{message!r} is not an EAN-13: write 13 digits, the last the check digit"
        if message[-1] != ean13_check_digit(message[:12]):
            return (f"{message!r} has the wrong EAN-13 check digit; the 13th digit of {message[:12]} is "
                    f"{ean13_check_digit(message[:12])}")
    elif fmt == "PKBarcodeFormatCode39":
        if not _CODE39.fullmatch(message):
            return f"{message!r} is not Code 39: use A–Z (capitals), 0–9, space and - . $ / + %"
    elif fmt == "PKBarcodeFormatCodabar":
        if not _CODABAR.fullmatch(message):
            return (f"{message!r} is not Codabar: use 0–9 and - $ : / . +, optionally between start and stop "
                    "letters A–D")
    elif fmt == "PKBarcodeFormatI2of5" and not (message.isascii() and message.isdigit() and len(message) % 2 == 0):
        return f"{message!r} is not ITF (interleaved 2 of 5): write an even number of digits"
    return None


def _encoding(message: str) -> str:
    try:
        message.encode("iso-8859-1")
    except UnicodeEncodeError:
        return "utf-8"
    return "iso-8859-1"


def one_d_message(fmt: str, value: str) -> str | None:
    """What the 1-D *fmt* encodes for *value* (a member number or coupon code), or None when it cannot carry it.
    EAN-13 takes 12 digits and appends the check digit (13 with the right one are kept)."""
    if fmt == "PKBarcodeFormatEAN13" and len(value) == 12 and value.isascii() and value.isdigit():
        value += ean13_check_digit(value)
    return None if barcode_content_problem(fmt, value) else value


def barcodes(message: str, one_d: str | None = None) -> list[dict[str, str]]:
    """The ``barcodes`` of a pass showing *message*: the QR code, after the 1-D *one_d* code when that format can
    carry the message (iOS 27 draws the first it knows; older iOS skips to the QR code)."""
    qr = {"format": QR, "message": message, "messageEncoding": _encoding(message), "altText": message}
    drawn = one_d_message(one_d, message) if one_d else None
    if drawn is None:
        return [qr]
    first: dict[str, Any] = {"format": one_d, "message": drawn, "messageEncoding": "iso-8859-1", "altText": drawn}
    return [first, qr]
