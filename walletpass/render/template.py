"""PassTemplate: a pass.json skeleton with ``${…}`` placeholders, its texts per locale and source images.

A template is a value; :mod:`walletpass.pass_templates` reads one from ``walletpass/templates/passes/<name>/``.
The skeleton is compiled once (placeholders parsed, structure frozen), so rendering a pass only walks it.

Placeholder rules:
- a string that is exactly one placeholder (``"${member.points}"``) takes the variable's value with its
  type (a number stays a number);
- placeholders inside a longer string are replaced by the value's text (``"No. ${member.number}"``);
- a *field* whose ``value`` is exactly a placeholder whose variable is ``None`` (an optional value the
  pass does not have, e.g. an offer without an end date) is left out of the pass — a template feature,
  not error handling: unknown variables and wrong shapes are rejected when the template is made;
- any other key whose value is exactly such a placeholder is left out of its object (an optional attribute,
  e.g. a field's ``attributedValue``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from walletpass.errors import InvalidPass

MEMBER, COUPON = "member", "coupon"
#: Pass style of each template kind.
STYLE_OF_KIND = {MEMBER: "storeCard", COUPON: "coupon"}

#: The program's texts a template may show as fields (``${program.how_to_earn_key}`` …).
PROGRAM_FIELD_TEXTS = ("terms", "how_to_earn", "how_to_redeem")
_PROGRAM_VARIABLES = frozenset({f"program.{name}{suffix}" for name in PROGRAM_FIELD_TEXTS for suffix in ("", "_key")})

#: Variables a template of each kind may use (the program's are in README.md, "A program's texts").
#: ``offer.<text>`` is the offer's default text; ``offer.<text>_key`` its pass.strings key, which Wallet shows in
#: the device's language; ``program.<text>`` and ``program.<text>_key`` the same for the program's texts. A
#: ``_key`` is None (the field is left out) when no locale has the text.
VARIABLES: Mapping[str, frozenset[str]] = {
    MEMBER: frozenset({"member.name", "member.number", "member.points", "member.tier_key", "member.email",
                       "pass.serial_number", "pass.news_key", "pass.news_link_key"}) | _PROGRAM_VARIABLES,
    COUPON: frozenset({"coupon.code", "offer.title", "offer.description", "offer.discount", "offer.terms",
                       "offer.title_key", "offer.description_key", "offer.discount_key", "offer.terms_key",
                       "offer.valid_from", "offer.valid_until", "member.name", "member.number",
                       "pass.serial_number"}) | _PROGRAM_VARIABLES,
}
#: Keys the renderer sets from the program, member and pass record; a template may not set them.
RESERVED_KEYS = frozenset({
    "formatVersion", "passTypeIdentifier", "serialNumber", "teamIdentifier", "organizationName",
    "webServiceURL", "authenticationToken", "backgroundColor", "foregroundColor", "labelColor", "barcodes",
    "barcode", "expirationDate", "voided",
})
_PLACEHOLDER = re.compile(r"\$\{([a-z_]+\.[a-z_]+)\}")


@dataclass(frozen=True, slots=True)
class _Text:
    """A string with placeholders: literal parts and variable names, alternating (starts with literal)."""

    parts: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return self.parts[1::2]


@dataclass(frozen=True, slots=True)
class _Var:
    """A string that is exactly one placeholder: replaced by the value with its type."""

    name: str


def _compile(node: Any, path: str, allowed: frozenset[str]) -> Any:
    if isinstance(node, dict):
        return MappingProxyType({k: _compile(v, f"{path}.{k}", allowed) for k, v in node.items()})
    if isinstance(node, list):
        return tuple(_compile(v, f"{path}[{i}]", allowed) for i, v in enumerate(node))
    if isinstance(node, str) and "${" in node:
        parts = tuple(_PLACEHOLDER.split(node))
        leftover = "".join(parts[0::2])
        if "${" in leftover:
            raise InvalidPass(path, f"{node!r} has a malformed placeholder; write ${{name.part}}, "
                                    "e.g. ${member.name}")
        for name in parts[1::2]:
            if name not in allowed:
                raise InvalidPass(path, f"unknown placeholder ${{{name}}}; use one of {', '.join(sorted(allowed))}")
        if len(parts) == 3 and parts[0] == "" and parts[2] == "":
            return _Var(parts[1])
        return _Text(parts)
    return node


def _variables(node: Any) -> frozenset[str]:
    """The variables a compiled skeleton reads."""
    if isinstance(node, MappingProxyType):
        return frozenset().union(*map(_variables, node.values()))
    if isinstance(node, tuple):
        return frozenset().union(*map(_variables, node))
    if isinstance(node, _Var):
        return frozenset({node.name})
    if isinstance(node, _Text):
        return frozenset(node.names)
    return frozenset()


def _text(value: object) -> str:
    return "" if value is None else str(value)


_LEAVES = (str, int, float, bool, type(None))


def substitute(node: Any, values: Mapping[str, Any]) -> Any:
    """Return a fresh JSON structure: *node* (compiled) with placeholders replaced from *values*."""
    t = type(node)
    if t is MappingProxyType:
        value = node.get("value")
        if type(value) is _Var and values[value.name] is None and "key" in node:
            return None  # optional field without a value: left out by the caller
        return {k: v if type(v) in _LEAVES else substitute(v, values) for k, v in node.items()
                if type(v) is not _Var or values[v.name] is not None}
    if t is tuple:
        out = []
        for v in node:
            if type(v) in _LEAVES:
                out.append(v)
                continue
            item = substitute(v, values)
            if item is not None or type(v) is not MappingProxyType:
                out.append(item)
        return out
    if t is _Var:
        return values[node.name]
    if t is _Text:
        return "".join(s if i % 2 == 0 else _text(values[s]) for i, s in enumerate(node.parts))
    return node


@dataclass(frozen=True, slots=True)
class PassTemplate:
    """A compiled pass template.

    ``skeleton`` is the compiled ``pass`` section of template.json; ``strings`` maps a locale (``en``,
    ``zh-Hant`` …) to its texts; ``images`` maps a slot (``icon``, ``logo``, ``strip``) to source bytes;
    ``document`` is the whole template.json text (other sections, e.g. Google's, are read by their owners).
    """

    name: str
    kind: str
    skeleton: Any
    strings: Mapping[str, Mapping[str, str]]
    images: Mapping[str, bytes]
    document: str = "{}"
    default_locale: str = "en"
    version: str = field(default="")

    @property
    def style(self) -> str:
        return STYLE_OF_KIND[self.kind]

    @property
    def variables(self) -> frozenset[str]:
        """The variables (``member.name`` …) this template's pass shows."""
        return _variables(self.skeleton)

    @classmethod
    def create(cls, name: str, document: Mapping[str, Any], strings: Mapping[str, Mapping[str, str]],
               images: Mapping[str, bytes], *, version: str = "") -> PassTemplate:
        """Check and compile a template from its parsed template.json *document*."""
        kind = document.get("kind")
        if kind not in STYLE_OF_KIND:
            raise InvalidPass(f"{name}/template.json:kind", f"{kind!r}; use one of {', '.join(STYLE_OF_KIND)}")
        skeleton = document.get("pass")
        if not isinstance(skeleton, dict):
            raise InvalidPass(f"{name}/template.json:pass", "missing; give the pass.json skeleton under \"pass\"")
        style = STYLE_OF_KIND[kind]
        for key in skeleton:
            if key in RESERVED_KEYS:
                raise InvalidPass(f"{name}/template.json:pass.{key}", "is set by walletpass from the program, "
                                                                      "member and pass record; remove it")
        if not isinstance(skeleton.get(style), dict):
            raise InvalidPass(f"{name}/template.json:pass.{style}", f"a {kind} template needs the {style} field groups")
        if not strings:
            raise InvalidPass(f"{name}/*.lproj", "a template needs at least one <locale>.lproj/pass.strings")
        default = "en" if "en" in strings else sorted(strings)[0]
        compiled = _compile(skeleton, f"{name}/template.json:pass", VARIABLES[kind])
        frozen_strings = MappingProxyType({loc: MappingProxyType(dict(t)) for loc, t in sorted(strings.items())})
        return cls(name, kind, compiled, frozen_strings, MappingProxyType(dict(images)),
                   json.dumps(document, ensure_ascii=False, sort_keys=True), default, version)
