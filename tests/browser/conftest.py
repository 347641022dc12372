"""Real-browser tests: Debian's chromium driven by Playwright's Python package (its driver ships in the wheel;
nothing downloads a browser), against the app served over real HTTP on a free port.

Fixtures:
- ``live_server``: the app of the test's ``services`` settings, with ``WALLETPASS_BASE_URL`` pointing at itself, so
  every link a page or the API gives is followed for real; ``.url``, ``.services``, ``.api_key`` (admin).
- ``browser``: one headless chromium per test session (``/usr/bin/chromium``, or ``WALLETPASS_TEST_CHROMIUM``).
- ``new_page(device, locale=…)``: a page in a fresh context with a phone's or a desktop's user agent, viewport and
  touch; closed after the test.
- ``screenshot(page, name)``: writes ``<artifacts>/<test>-<name>.png`` (``WALLETPASS_TEST_ARTIFACTS``, default
  ``build/screenshots``) and returns its path, for a person to look at.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from walletpass.bootstrap import Services, bootstrap
from walletpass.config import Settings
from walletpass.ports import Clock
from walletpass.services.api_keys import create_api_key

CHROMIUM = os.environ.get("WALLETPASS_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("WALLETPASS_TEST_ARTIFACTS", "build/screenshots"))

#: What each kind of visitor looks like to the pages.
DEVICES: dict[str, dict[str, Any]] = {
    "iphone": {
        "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                      "Version/18.5 Mobile/15E148 Safari/604.1",
        "viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True, "has_touch": True},
    "android": {
        "user_agent": "Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) "
                      "Chrome/131.0.0.0 Mobile Safari/537.36",
        "viewport": {"width": 412, "height": 915}, "device_scale_factor": 2.625, "is_mobile": True, "has_touch": True},
    "desktop": {
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
                      "Safari/537.36",
        "viewport": {"width": 1280, "height": 900}, "device_scale_factor": 1, "is_mobile": False, "has_touch": False},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    services: Services
    api_key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """Browser tests look at pages, not storage (tested on both databases elsewhere): SQLite only."""
    from walletpass.storage.db import make_engine, upgrade

    url = f"sqlite:///{tmp_path / 'instance' / 'walletpass.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def live_server(settings: Settings, services_clock: Clock) -> Iterator[LiveServer]:
    from werkzeug.serving import make_server

    from api import create_app

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    svc = bootstrap(dataclasses.replace(settings, base_url=url), clock=services_clock)
    key = create_api_key(svc.uow(), services_clock, svc.api_keys.hasher, "browser tests", ["admin"])
    server = make_server("127.0.0.1", port, create_app(services=svc), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(url=url, services=svc, api_key=key)
    finally:
        server.shutdown()
        thread.join(10)
        svc.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM}: `apt-get install chromium` (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"])
        yield b
        b.close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., Any]]:
    contexts: list[Any] = []

    def open_page(device: str = "iphone", *, locale: str = "en-US") -> Any:
        ctx = browser.new_context(**DEVICES[device], locale=locale, accept_downloads=True,
                                  extra_http_headers={"Accept-Language": locale})
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(15_000)
        return page

    yield open_page
    for ctx in contexts:
        ctx.close()


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Callable[[Any, str], Path]:
    def take(page: Any, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        test = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)
        path = ARTIFACTS / f"{test}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
