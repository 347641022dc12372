"""Settings from the environment: broker settings, and the README's table kept in step with ENV_VARS."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from walletpass.config import ENV_VARS, PREFIX, Settings
from walletpass.errors import ConfigurationError

ROOT = Path(__file__).resolve().parents[2]


def test_broker_defaults() -> None:
    s = Settings.from_env({}, cwd=Path("/srv"))
    assert s.broker_url is None and s.embedded_worker
    assert s.broker_queue == "walletpass" and s.sweep_seconds == 2.0
    s = Settings.from_env({"WALLETPASS_BROKER_URL": "rediss://:pw@redis.example:6380/1",
                           "WALLETPASS_BROKER_QUEUE": "passes.eu-1", "WALLETPASS_SWEEP_SECONDS": "5"}, cwd=Path("/srv"))
    assert s.broker_url == "rediss://:pw@redis.example:6380/1" and not s.embedded_worker
    assert s.broker_queue == "passes.eu-1" and s.sweep_seconds == 5.0


@pytest.mark.parametrize("env,words", [
    ({"WALLETPASS_BROKER_URL": "amqp://guest@localhost//"}, ["WALLETPASS_BROKER_URL", "amqp", "redis://"]),
    ({"WALLETPASS_BROKER_URL": "127.0.0.1:6379"}, ["WALLETPASS_BROKER_URL"]),
    ({"WALLETPASS_BROKER_QUEUE": "my queue"}, ["WALLETPASS_BROKER_QUEUE"]),
    ({"WALLETPASS_SWEEP_SECONDS": "0"}, ["WALLETPASS_SWEEP_SECONDS"]),
    ({"WALLETPASS_SWEEP_SECONDS": "soon"}, ["WALLETPASS_SWEEP_SECONDS"]),
])
def test_broker_settings_that_cannot_work(env: dict[str, str], words: list[str]) -> None:
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env(env, cwd=Path("/srv"))
    assert all(w in info.value.detail for w in words), info.value.detail


def test_readme_lists_every_variable_with_its_help() -> None:
    rows = re.findall(r"^\| `(WALLETPASS_[A-Z0-9_]+)` \| (.+) \|$", (ROOT / "README.md").read_text(), re.M)
    assert [name for name, _ in rows] == [PREFIX + name for name in ENV_VARS]
    assert dict(rows) == {PREFIX + name: help_ for name, (_, help_) in ENV_VARS.items()}


@pytest.mark.parametrize("url", ["http://127.example.com/", "http://127.0.0.1.nip.io:8000", "http://localhost.evil/",
                                 "http://[::2]:8000", "http://10.0.0.1/"])
def test_http_base_url_must_be_loopback(url: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env({"WALLETPASS_BASE_URL": url}, cwd=Path("/srv"))
    assert "must use https" in info.value.detail and "loopback" in info.value.detail


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "http://127.9.8.7/", "http://localhost:5000",
                                 "http://[::1]:8000/", "https://passes.example.com"])
def test_http_base_url_on_loopback_is_accepted(url: str) -> None:
    assert Settings.from_env({"WALLETPASS_BASE_URL": url}, cwd=Path("/srv")).base_url == url


def test_pass_certificate_and_key_paths_default_to_the_certs_folder() -> None:
    s = Settings.from_env({"WALLETPASS_CERTS_DIR": "/etc/walletpass/certs",
                           "WALLETPASS_MEMBER_PASS_TYPE_ID": "pass.com.example.loyalty"}, cwd=Path("/srv"))
    assert s.cert_path("pass.com.example.loyalty") == Path("/etc/walletpass/certs/pass.com.example.loyalty.pem")
    assert s.key_path("pass.com.example.loyalty") == Path("/etc/walletpass/certs/pass.com.example.loyalty.key")
    assert s.cert_path(s.coupon_pass_type_id) == Path(f"/etc/walletpass/certs/{s.coupon_pass_type_id}.pem")


def test_pass_certificate_and_key_paths_per_pass_type() -> None:
    s = Settings.from_env({"WALLETPASS_MEMBER_CERT_FILE": "real/member.pem", "WALLETPASS_MEMBER_KEY_FILE": "/k/m.key",
                           "WALLETPASS_COUPON_CERT_FILE": "/c/coupon.pem", "WALLETPASS_COUPON_KEY_FILE": "c.key",
                           "WALLETPASS_KEY_PASSWORD": "s3cret"}, cwd=Path("/srv"))
    member, coupon = s.pass_type_ids
    assert (s.cert_path(member), s.key_path(member)) == (Path("/srv/real/member.pem"), Path("/k/m.key"))
    assert (s.cert_path(coupon), s.key_path(coupon)) == (Path("/c/coupon.pem"), Path("/srv/c.key"))
    assert s.key_password == "s3cret"
    assert s.cert_path("pass.other") == Path("/srv/certs/dev/pass.other.pem")  # not configured: the folder's
