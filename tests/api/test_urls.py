"""walletpass.urls builds every public URL: each one is a route of the app, served by the endpoint meant for it."""

from __future__ import annotations

from urllib.parse import urlsplit

from walletpass.urls import PublicUrls


def _endpoint(app, url: str, method: str = "GET") -> str:  # type: ignore[no-untyped-def]
    adapter = app.url_map.bind("localhost")
    endpoint, _ = adapter.match(urlsplit(url).path, method=method)
    return str(endpoint)


def test_every_public_url_is_a_route_of_the_app(app, services) -> None:  # type: ignore[no-untyped-def]
    urls = services.urls
    assert urls == PublicUrls.of(services.settings)
    token = "AbC-123_xyz"
    assert _endpoint(app, urls.page(token)) == "public.page"
    assert _endpoint(app, urls.pkpass(token)) == "public.pkpass"
    assert _endpoint(app, urls.google_save(token)) == "public.google_save"
    assert _endpoint(app, urls.smart(token)) == "public.smart_link"
    assert _endpoint(app, urls.preview(token)) == "public.card_picture"
    assert set(urls.links(token)) == {"page", "pkpass", "google_save", "smart"}
    for slot in ("logo", "hero", "icon", "strip"):
        assert _endpoint(app, urls.program_image(7, slot)) == "public.program_image"
    assert _endpoint(app, urls.google_callback(), "POST") == "public.google_callback"
    # webServiceURL: devices append v1/... (apple.md §3)
    assert _endpoint(app, urls.web_service() + "v1/passes/pass.x/SERIAL") == "apple.latest"
    assert all(u.startswith(services.settings.base_url) for u in urls.links(token).values())


def test_the_base_url_keeps_its_path_and_loses_a_trailing_slash() -> None:
    urls = PublicUrls("https://example.com/wallet")
    assert urls.page("t") == "https://example.com/wallet/p/t"
    assert urls.web_service() == "https://example.com/wallet/"
    assert urls.join(7) == "https://example.com/wallet/join/7"
    assert urls.join(7, "flyer-a") == "https://example.com/wallet/join/7?src=flyer-a"
