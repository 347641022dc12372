"""Every public URL walletpass hands out, built in one place (tested against the Flask URL map).

Passes and their links are reached through a pass's unguessable public token, never a serial or an id.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from walletpass.config import Settings


@dataclass(frozen=True, slots=True)
class PublicUrls:
    """URLs under the instance's public base URL (``WALLETPASS_BASE_URL``)."""

    base: str

    @classmethod
    def of(cls, settings: Settings) -> PublicUrls:
        return cls(settings.base_url.rstrip("/"))

    def page(self, token: str) -> str:
        """The pass page, with its "Add to Apple Wallet" / "Add to Google Wallet" links."""
        return f"{self.base}/p/{token}"

    def pkpass(self, token: str) -> str:
        """The signed ``.pkpass`` (``application/vnd.apple.pkpass``)."""
        return f"{self.base}/p/{token}/pass.pkpass"

    def google_save(self, token: str) -> str:
        """A redirect to Google's save page with a signed JWT."""
        return f"{self.base}/p/{token}/google"

    def samsung_add(self, token: str) -> str:
        """A redirect to Samsung Wallet's add link, its card data signed and encrypted at the tap."""
        return f"{self.base}/p/{token}/samsung"

    def samsung_partner(self) -> str:
        """The partner URL to enter in Samsung's Partner Portal (Get Card Data / Send Card State): Samsung calls
        ``<it>/cards/{cardId}/{refId}``."""
        return f"{self.base}/samsung"

    def smart(self, token: str) -> str:
        """The one link a brand sends in an e-mail or SMS: the ``.pkpass`` on iOS, Google's save redirect on
        Android, the pass page elsewhere (the same public token as the pass page)."""
        return f"{self.base}/a/{token}"

    def preview(self, token: str) -> str:
        """The picture of the card on its pass page (PNG)."""
        return f"{self.base}/p/{token}/card.png"

    def links(self, token: str) -> dict[str, str]:
        """The ``links`` of a member or coupon in the API: ``page``, ``pkpass``, ``google_save``, ``smart``."""
        return {"page": self.page(token), "pkpass": self.pkpass(token), "google_save": self.google_save(token),
                "smart": self.smart(token)}

    def join(self, program_id: int, src: str | None = None) -> str:
        """The enrolment page of a program; ``src`` (a flyer, a campaign) is kept through enrolment."""
        url = f"{self.base}/join/{program_id}"
        return f"{url}?src={quote(src, safe='')}" if src else url

    def api(self, path: str) -> str:
        """A URL of the marketer API (*path* from ``url_for``, with its query): a list's ``next`` link."""
        return f"{self.base}{path}"

    def program_image(self, program_id: int, slot: str) -> str:
        """A program's public image (Google fetches the logo and hero from here)."""
        return f"{self.base}/assets/programs/{program_id}/{slot}.png"

    def google_callback(self) -> str:
        """Where Google posts save/delete callbacks."""
        return f"{self.base}/google/callback"

    def web_service(self) -> str:
        """``webServiceURL`` of every pass: devices call ``<it>v1/...`` (apple.md §3)."""
        return f"{self.base}/"
