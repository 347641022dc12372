"""One result line of ``walletpass doctor``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

OK, WARN, FAIL, SKIP = "ok", "warn", "FAIL", "skip"


@dataclass(frozen=True, slots=True)
class Finding:
    """*check* (``certificate:pass.x``, ``manifest``, ``pass.json:webServiceURL``…) is at *level*: *detail* says
    what was found, *fix* what to do, *rule* where the rule comes from (apple.md section, Apple's wording)."""

    check: str
    level: str
    detail: str
    fix: str = ""
    rule: str = ""

    def line(self) -> str:
        """``FAIL manifest: … → fix`` (one line; the rule in brackets)."""
        text = f"{self.level:<4} {self.check}: {self.detail}"
        if self.fix:
            text += f" → {self.fix}"
        if self.rule:
            text += f" [{self.rule}]"
        return text

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def failed(findings: Iterable[Finding]) -> bool:
    """True when any finding is a FAIL."""
    return any(f.level == FAIL for f in findings)


__all__ = ["FAIL", "OK", "SKIP", "WARN", "Finding", "failed"]
