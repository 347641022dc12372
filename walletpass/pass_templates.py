"""ADAPTER: read pass templates from ``walletpass/templates/passes/<name>/`` into PassTemplate values.

The templates ship inside the package (package data, found through :mod:`importlib.resources`), so an installed
walletpass builds passes from any working directory. An operator's own templates live in a folder of their own
(``WALLETPASS_TEMPLATES_DIR``): each template folder there is used instead of the shipped one of that name.

A template folder holds ``template.json`` (``{"kind": "member"|"coupon", "pass": {pass.json skeleton}}``),
source images ``icon.png`` (required), ``logo.png``, ``strip.png`` (PNG or JPEG, at the largest size: they are
scaled to 1x/@2x/@3x when a program is first built) and ``<locale>.lproj/pass.strings`` (UTF-8 or UTF-16).
This is the only module of the pass engine that touches the disk; problems raise ConfigurationError naming
the file.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

from walletpass.errors import ConfigurationError, InvalidInput
from walletpass.pkpass.images import DEFAULT_MAX_BYTES, SLOTS, check_image
from walletpass.pkpass.passjson import check_localizations
from walletpass.pkpass.strings import parse_strings
from walletpass.render.template import STYLE_OF_KIND, PassTemplate

#: The shipped templates: package data of walletpass (a real folder: wheels install unzipped).
TEMPLATES_DIR = Path(str(resources.files("walletpass").joinpath("templates", "passes")))
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror or exc}") from exc


def load_template(directory: Path | str) -> PassTemplate:
    """Read one template folder; the template's name is the folder's name."""
    folder = Path(directory)
    name = folder.name
    if not folder.is_dir():
        raise ConfigurationError(f"pass template folder {folder} does not exist")
    raw = _read(folder / "template.json")
    try:
        document = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigurationError(f"{folder / 'template.json'} is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ConfigurationError(f"{folder / 'template.json'} must hold a JSON object")
    kind = document.get("kind")
    style = STYLE_OF_KIND.get(kind, "")  # type: ignore[arg-type]
    digest = hashlib.sha256(raw)
    images: dict[str, bytes] = {}
    for slot in sorted(SLOTS.get(style, {})):
        found = [folder / f"{slot}{sfx}" for sfx in _IMAGE_SUFFIXES if (folder / f"{slot}{sfx}").is_file()]
        if len(found) > 1:
            raise ConfigurationError(f"{folder}: keep one of {', '.join(p.name for p in found)}")
        if found:
            data = _read(found[0])
            try:
                check_image(data, field=str(found[0]), max_bytes=DEFAULT_MAX_BYTES)
            except InvalidInput as exc:
                raise ConfigurationError(exc.detail) from exc
            images[slot] = data
            digest.update(slot.encode() + hashlib.sha256(data).digest())
    if style and "icon" not in images:
        raise ConfigurationError(f"{folder}: icon.png is missing; every pass needs an icon")
    strings: dict[str, dict[str, str]] = {}
    for lproj in sorted(folder.glob("*.lproj")):
        path = lproj / "pass.strings"
        data = _read(path)
        digest.update(lproj.name.encode() + hashlib.sha256(data).digest())
        try:
            strings[lproj.name.removesuffix(".lproj")] = parse_strings(data, field=str(path))
        except InvalidInput as exc:
            raise ConfigurationError(exc.detail) from exc
    try:
        check_localizations(strings)
        return PassTemplate.create(name, document, strings, images, version=digest.hexdigest()[:16])
    except InvalidInput as exc:
        raise ConfigurationError(f"pass template {folder}: {exc.detail}") from exc


def load_templates(root: Path | str = TEMPLATES_DIR, *, own: Path | str | None = None) -> dict[str, PassTemplate]:
    """Read every template folder under *root* (folders with a template.json), by name.

    *own* is the operator's folder (``WALLETPASS_TEMPLATES_DIR``): its template folders are read too and replace
    those of *root* with the same name; a folder that does not exist or holds no template is an error.
    """
    templates = _read_folder(Path(root), "pass templates folder")
    if own is not None:
        mine = _read_folder(Path(own), "WALLETPASS_TEMPLATES_DIR")
        if not mine:
            raise ConfigurationError(f"WALLETPASS_TEMPLATES_DIR {own} holds no template: put each one in a folder "
                                     "of its own, e.g. member-card/template.json (see walletpass/templates/passes)")
        templates.update(mine)
    return templates


def _read_folder(base: Path, what: str) -> dict[str, PassTemplate]:
    if not base.is_dir():
        raise ConfigurationError(f"{what} {base} does not exist")
    return {p.parent.name: load_template(p.parent) for p in sorted(base.glob("*/template.json"))}
