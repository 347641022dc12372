"""Localized texts: a template's pass.strings merged with the program's own translations (apple.md §2.10).

pass.json holds keys (``points_label``, ``tier.Gold`` …); each ``<locale>.lproj/pass.strings`` maps them to
text. A template's pass.strings hold generic labels only ("Points", "Member", "Terms" …); every brand text
comes from the program. Program-owned keys and where their text comes from, for a locale L:

=======================  ============================================================================
key                      text
=======================  ============================================================================
``organization_name``    ``Program.texts[L]["organization_name"]``, else ``Program.organization_name``
``program_name``         ``Program.texts[L]["name"]``, else ``Program.name``
``points_label``         ``texts[L]["points_label"]``; else the template's L text when the program kept
                         the template's default (so "Points" becomes "點數"); else the program's own value
``terms``                ``texts[L][key]``, else the program's own text (``Program.terms``, or
``how_to_earn``          ``texts["*"][key]``); present only when some locale has the text (the template
``how_to_redeem``        shows them through ``${program.<key>_key}``, which is None otherwise: field left out)
``description``          the pass's description (VoiceOver, lock screen): the program's ``description``
                         (member card) or ``coupon_description`` (coupon) in L as above; else the offer's
                         title (coupon), else the program's name
``tier.<name>``          ``texts[L]["tier.<name>"]``, else the template's ``tier.<name>``, else the name
=======================  ============================================================================

A coupon's strings also carry its offer's texts, under ``offer.title``, ``offer.description``,
``offer.discount`` and ``offer.terms``: ``Offer.texts[L][…]``, else the offer's own (default) text. The
coupon template shows them through ``${offer.title_key}`` … (the key, which Wallet looks up), as the member
card shows its tier through ``${member.tier_key}``.

Template keys missing in a locale fall back to the template's default locale, so every file ends up with
exactly the same keys, which Wallet requires.
"""

from __future__ import annotations

import html
from collections.abc import Mapping

from walletpass.domain.offers import TRANSLATABLE, Offer
from walletpass.domain.passes import News
from walletpass.domain.programs import Program
from walletpass.render.template import COUPON, PROGRAM_FIELD_TEXTS, PassTemplate

#: The key of the pass's description (pass.json ``description``): always the program's (see the table above).
DESCRIPTION_KEY = "description"
#: The template text of the link in a campaign's news field that adds the member's coupon.
NEWS_LINK_LABEL = "news_offer_link"
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


def program_text_key(name: str) -> str:
    """The pass.strings key of one of a program's texts shown as a field (``terms``, ``how_to_earn`` …)."""
    return name


def locales_for(template: PassTemplate, program: Program) -> tuple[str, ...]:
    """Every locale the pass is localized into: the template's and the program's, sorted."""
    return tuple(sorted(set(template.strings) | set(program.locales) | set(program.translations)))


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
    key, base = "points_label", program.points_label
    if key in own:
        out[key] = own[key]
    elif (not base or base == default_table.get(key)) and _template_text(template, locale, key) is not None:
        out[key] = _template_text(template, locale, key)  # type: ignore[assignment]
    else:
        out[key] = base
    for name in PROGRAM_FIELD_TEXTS:
        if program.has_text(name):
            out[program_text_key(name)] = program.text_in(locale, name)
    for tier in program.tiers:
        key = tier_key(tier.name)
        out[key] = own.get(key) or _template_text(template, locale, key) or tier.name
    out[NO_TIER_KEY] = own.get(NO_TIER_KEY) or _template_text(template, locale, NO_TIER_KEY) or _NO_TIER_DEFAULT
    return out


def _description(template: PassTemplate, program: Program, locale: str, table: Mapping[str, str]) -> str:
    """The pass's description in *locale* (Apple requires one): the program's own for the kind of pass, else
    the offer's title (coupon: already in *table*), else the program's name."""
    own = program.text_in(locale, "coupon_description" if template.kind == COUPON else "description")
    return own or table.get(offer_text_key("title")) or table["program_name"]


def localized_strings(template: PassTemplate, program: Program, offer: Offer | None = None, *,
                      news: News | None = None, news_link: str | None = None) -> dict[str, dict[str, str]]:
    """locale → pass.strings entries (with *offer*'s texts for a coupon, *news*'s text for a member card shown a
    campaign's message, and with *news_link* its text again with a link that adds the member's coupon — the
    field's ``attributedValue``), every locale with the same keys."""
    keys = sorted({k for table in template.strings.values() for k in table})
    result: dict[str, dict[str, str]] = {}
    for locale in locales_for(template, program):
        table = {k: _template_text(template, locale, k) or "" for k in keys}
        table.update(_program_entries(template, program, locale))
        if offer is not None:
            table.update(offer_entries(offer, locale))
        if news is not None:
            table[news.key] = news.text(locale)
            if news_link is not None and news.link_key is not None:
                label = html.escape(table.get(NEWS_LINK_LABEL) or "Add the coupon", quote=False)
                table[news.link_key] = (f"{html.escape(news.text(locale), quote=False)}\n\n"
                                        f"<a href='{html.escape(news_link)}'>{label}</a>")
        table[DESCRIPTION_KEY] = _description(template, program, locale, table)
        result[locale] = dict(sorted(table.items()))
    return result


def strings_for_locale(strings: Mapping[str, Mapping[str, str]], locale: str, key: str) -> str:
    """Look *key* up as a device set to *locale* would (used by tests and previews)."""
    return strings.get(locale, {}).get(key, key)
