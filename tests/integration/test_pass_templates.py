"""Pass templates: shipped inside the package, and an operator's own folder (WALLETPASS_TEMPLATES_DIR)."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import pytest

import walletpass
from tests.builders import make_member, make_program
from tests.helpers import local, verify_with_openssl
from walletpass.config import Settings
from walletpass.errors import ConfigurationError
from walletpass.pass_templates import TEMPLATES_DIR, load_template, load_templates
from walletpass.pkpass.strings import parse_strings


def own_member_card(folder: Path) -> Path:
    """A copy of the shipped member card whose English "Program" label reads "Our loyalty club"."""
    card = folder / "member-card"
    shutil.copytree(TEMPLATES_DIR / "member-card", card)
    strings = card / "en.lproj" / "pass.strings"
    text = strings.read_text(encoding="utf-8")
    assert '"program_label" = "Program";' in text
    strings.write_text(text.replace('"program_label" = "Program";', '"program_label" = "Our loyalty club";'),
                       encoding="utf-8")
    return folder


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """conftest's settings, with a folder of our own templates."""
    return settings.replace(templates_dir=own_member_card(tmp_path / "my-templates"))


def test_shipped_templates_are_package_data() -> None:
    package = Path(walletpass.__file__).resolve().parent
    assert package / "templates" / "passes" == TEMPLATES_DIR
    assert set(load_templates()) == {"member-card", "coupon"}


def test_env_names_the_folder_relative_to_the_working_directory(tmp_path: Path) -> None:
    assert Settings.from_env({}, cwd=tmp_path).templates_dir is None
    s = Settings.from_env({"WALLETPASS_TEMPLATES_DIR": "my-templates"}, cwd=tmp_path)
    assert s.templates_dir == tmp_path / "my-templates"


def test_own_template_replaces_the_shipped_one_of_its_name(client, auth, services, tmp_path) -> None:  # type: ignore[no-untyped-def]
    builder = services.pass_builder
    assert builder.template("member").version != load_template(TEMPLATES_DIR / "member-card").version
    assert builder.template("coupon").version == load_template(TEMPLATES_DIR / "coupon").version  # still shipped

    member = make_member(services, make_program(services))
    dl = client.get(local(member["links"]["pkpass"]))
    assert dl.status_code == 200, dl.data
    verify_with_openssl(dl.data, services.settings.wwdr_path, tmp_path)
    with zipfile.ZipFile(io.BytesIO(dl.data)) as z:
        english = parse_strings(z.read("en.lproj/pass.strings"))
    assert english["program_label"] == "Our loyalty club"


def test_a_folder_that_does_not_exist_or_holds_no_template_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        load_templates(own=tmp_path / "nowhere")
    assert "WALLETPASS_TEMPLATES_DIR" in info.value.detail and "nowhere" in info.value.detail
    (tmp_path / "empty" / "member-card").mkdir(parents=True)  # no template.json: a typo, not a template
    with pytest.raises(ConfigurationError) as info:
        load_templates(own=tmp_path / "empty")
    assert "holds no template" in info.value.detail


def test_a_broken_own_template_names_its_file(tmp_path: Path) -> None:
    own = own_member_card(tmp_path / "mine")
    (own / "member-card" / "template.json").write_text('{"kind": "member", "pass": ', encoding="utf-8")
    with pytest.raises(ConfigurationError) as info:
        load_templates(own=own)
    assert str(own / "member-card" / "template.json") in info.value.detail and "not valid JSON" in info.value.detail
