"""Localized texts: a template's pass.strings merged with the program's own translations (apple.md §2.10).

pass.json holds keys (``points_label``, ``tier.Gold`` …); each ``<locale>.lproj/pass.strings`` maps them to
text. Program-owned keys and where their text comes from, for a locale L:

=====================  ==============================================================================
key                    text
=====================  ==============================================================================
``organization_name``  ``Program.texts[L]["organization_name"]``, else ``Program.organization_name``
``program_name``       ``Program.texts[L]["name"]``, else ``Program.name``
``points_label``       ``texts[L]["points_label"]``; else the template's L text when the program kept
``terms``              the template's default (so "Points" becomes "點數"); else the program's own value
``tier.<name>``        ``texts[L]["tier.<name>"]``, else the template's ``tier.<name>``, else the name
=====================  ==============================================================================

A coupon's strings also carry its offer's texts, under ``offer.title``, ``offer.description``,
``offer.discount`` and ``offer.terms``: ``Offer.texts[L][…]``, else the offer's own (default) text. The
coupon template shows them through ``${offer.title_key}`` … (the key, which Wallet looks up), as the member
card shows its tier through ``${member.tier_key}``.

Template keys missing in a locale fall back to the template's default locale, so every file ends up with
exactly the same keys, which Wallet requires.
"""

from __future__ import annotations

from collections.abc import Mapping

from walletpass.domain.offers import TRANSLATABLE, Offer
from walletpass.domain.programs import Program
from walletpass.render.template import PassTemplate

#: A member without a tier shows this key's text.
NO_TIER_KEY = "tier.none"
_NO_TIER_DEFAULT = "Member"


def tier_key(tier_name: str | None) -> str:
    """The pass.strings key of a tier's display name."""
    return f"tier.{tier_name}" if tier_name else NO_TIER_KEY


def offer_text_key(name: str) -> str:
    """The pass.strings key of one of an offer's texts (``title``, ``description``, ``discount``, ``terms``)."""
    return f"offer.{name}"


def offer_entries(offer: Offer, locale: str) -> dict[str, str]:
    """*offer*'s texts in *locale*: its translation where it has one, else its default text."""
    own = offer.texts.get(locale) or {}
    return {offer_text_key(name): own.get(name) or getattr(offer, name) for name in TRANSLATABLE}


def locales_for(template: PassTemplate, program: Program) -> tuple[str, ...]:
    """Every locale the pass is localized into: the template's and the program's, sorted."""
    return tuple(sorted(set(template.strings) | set(program.locales) | set(program.texts)))


def _template_text(template: PassTemplate, locale: str, key: str) -> str | None:
    table = template.strings.get(locale)
    if table is not None and key in table:
        return table[key]
    return template.strings[template.default_locale].get(key)


def _program_entries(template: PassTemplate, program: Program, locale: str) -> dict[str, str]:
    own = program.texts.get(locale, {})
    default_table = template.strings[template.default_locale]
    out = {
        "organization_name": own.get("organization_name", program.organization_name),
        "program_name": own.get("name", program.name),
    }
    for key, base in (("points_label", program.points_label), ("terms", program.terms)):
        if key in own:
            out[key] = own[key]
        elif (not base or base == default_table.get(key)) and _template_text(template, locale, key) is not None:
            out[key] = _template_text(template, locale, key)  # type: ignore[assignment]
        else:
            out[key] = base
    for tier in program.tiers:
        key = tier_key(tier.name)
        out[key] = own.get(key) or _template_text(template, locale, key) or tier.name
    out[NO_TIER_KEY] = own.get(NO_TIER_KEY) or _template_text(template, locale, NO_TIER_KEY) or _NO_TIER_DEFAULT
    return out


def localized_strings(template: PassTemplate, program: Program,
                      offer: Offer | None = None) -> dict[str, dict[str, str]]:
    """locale → pass.strings entries (with *offer*'s texts for a coupon), every locale with the same keys."""
    keys = sorted({k for table in template.strings.values() for k in table})
    result: dict[str, dict[str, str]] = {}
    for locale in locales_for(template, program):
        table = {k: _template_text(template, locale, k) or "" for k in keys}
        table.update(_program_entries(template, program, locale))
        if offer is not None:
            table.update(offer_entries(offer, locale))
        result[locale] = dict(sorted(table.items()))
    return result


def strings_for_locale(strings: Mapping[str, Mapping[str, str]], locale: str, key: str) -> str:
    """Look *key* up as a device set to *locale* would (used by tests and previews)."""
    return strings.get(locale, {}).get(key, key)
