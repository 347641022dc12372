"""Apple devices, their registrations for passes, and what was delivered to each (apple.md §3)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, update

from walletpass.domain.devices import Device, PushClient, PushTarget, Registration
from walletpass.errors import Conflict
from walletpass.storage.repositories._base import SessionRepository
from walletpass.storage.tables import DeviceRow, PassRow, RegistrationRow

#: Ids per IN list of one statement (SQLite's default limit of bound parameters is 32,766).
_IN_LIMIT = 5000


def to_device(row: DeviceRow) -> Device:
    return Device(id=row.id, device_library_identifier=row.device_library_identifier, push_token=row.push_token,
                  push_client=PushClient(row.push_client or PushClient.APPLE))


def to_registration(row: RegistrationRow) -> Registration:
    return Registration(id=row.id, device_id=row.device_id, pass_id=row.pass_id, created_at=row.created_at,
                        last_pushed_at=row.last_pushed_at, pushed_tag=row.pushed_tag,
                        last_fetched_at=row.last_fetched_at, fetched_tag=row.fetched_tag,
                        push_service_url=row.push_service_url)


def _client_column(client: PushClient) -> str | None:
    return None if client is PushClient.APPLE else client.value


class DeviceRepository(SessionRepository):
    def get(self, device_library_identifier: str) -> Device | None:
        row = self._device_row(device_library_identifier)
        return None if row is None else to_device(row)

    def _device_row(self, device_library_identifier: str) -> DeviceRow | None:
        return self._s.scalars(select(DeviceRow).where(
            DeviceRow.device_library_identifier == device_library_identifier)).first()

    def add(self, device_library_identifier: str, push_token: str, now: datetime,
            client: PushClient = PushClient.APPLE) -> Device:
        """The device, inserted now — or the one a concurrent first registration of it committed."""
        row = DeviceRow(device_library_identifier=device_library_identifier, push_token=push_token,
                        push_client=_client_column(client), created_at=now, updated_at=now)
        if self._add_unless_taken(row):
            return to_device(row)
        existing = self._device_row(device_library_identifier)
        if existing is None:  # the other transaction's device is gone again (unregistered meanwhile)
            raise Conflict(f"device {device_library_identifier} changed concurrently; try again")
        return to_device(existing)

    def set_push_token(self, device_id: int, push_token: str, now: datetime,
                       client: PushClient = PushClient.APPLE) -> None:
        self._s.execute(update(DeviceRow).where(DeviceRow.id == device_id)
                        .values(push_token=push_token, push_client=_client_column(client), updated_at=now)
                        .execution_options(synchronize_session=False))

    def registration(self, device_id: int, pass_id: int) -> Registration | None:
        row = self._s.scalars(select(RegistrationRow).where(RegistrationRow.device_id == device_id,
                                                            RegistrationRow.pass_id == pass_id)).first()
        return None if row is None else to_registration(row)

    def register(self, device_id: int, pass_id: int, now: datetime, push_service_url: str | None = None) -> bool:
        """Register the device for the pass; False when it already was (also by a concurrent request)."""
        return self._add_unless_taken(RegistrationRow(device_id=device_id, pass_id=pass_id, created_at=now,
                                                      push_service_url=push_service_url))

    def set_push_service_url(self, registration_id: int, push_service_url: str | None) -> None:
        """PassWallet's relay for a registration (sent again when the app registers again)."""
        self._s.execute(update(RegistrationRow).where(RegistrationRow.id == registration_id)
                        .values(push_service_url=push_service_url).execution_options(synchronize_session=False))

    def unregister(self, registration_id: int, device_id: int) -> None:
        """Delete a registration; the device goes with its last one."""
        self._s.execute(delete(RegistrationRow).where(RegistrationRow.id == registration_id))
        left = self._s.scalar(select(func.count()).where(RegistrationRow.device_id == device_id))
        if not left:
            self._s.execute(delete(DeviceRow).where(DeviceRow.id == device_id))

    def of_pass(self, pass_id: int) -> list[tuple[Registration, Device]]:
        stmt = (select(RegistrationRow, DeviceRow).join(DeviceRow, DeviceRow.id == RegistrationRow.device_id)
                .where(RegistrationRow.pass_id == pass_id).order_by(RegistrationRow.id))
        return [(to_registration(r), to_device(d)) for r, d in self._s.execute(stmt)]

    def stale(self, older_than: datetime) -> int:
        """Devices with a registration pushed before *older_than* whose pass they have not fetched since."""
        return int(self._s.scalar(select(func.count(RegistrationRow.device_id.distinct())).where(
            RegistrationRow.last_pushed_at.is_not(None), RegistrationRow.last_pushed_at < older_than,
            (RegistrationRow.fetched_tag.is_(None)) | (RegistrationRow.fetched_tag < RegistrationRow.pushed_tag),
        )) or 0)

    def count(self) -> int:
        return int(self._s.scalar(select(func.count()).select_from(RegistrationRow)) or 0)

    # -- delivery -------------------------------------------------------------------------------------------
    def push_targets(self, pass_ids: Sequence[int]) -> list[PushTarget]:
        """Every registration of *pass_ids* with its device's token and the pass's current version."""
        if not pass_ids:
            return []
        stmt = (select(RegistrationRow.id, PassRow.id, PassRow.pass_type_id, DeviceRow.push_token,
                       PassRow.update_tag, RegistrationRow.pushed_tag, DeviceRow.push_client,
                       RegistrationRow.push_service_url)
                .join(PassRow, PassRow.id == RegistrationRow.pass_id)
                .join(DeviceRow, DeviceRow.id == RegistrationRow.device_id)
                .where(RegistrationRow.pass_id.in_(list(pass_ids))).order_by(RegistrationRow.id))
        return [PushTarget(r, p, t, tok, int(tag), None if pushed is None else int(pushed),
                           PushClient(client or PushClient.APPLE), url)
                for r, p, t, tok, tag, pushed, client, url in self._s.execute(stmt)]

    def mark_pushed(self, pushed: Sequence[tuple[int, int]], now: datetime) -> None:
        """Record a successful push of version *tag* to registration *reg_id* for each (reg_id, tag); a
        registration already marked with a later version keeps it. One UPDATE per version pushed (a campaign
        chunk's passes share one), not one per registration."""
        by_tag: dict[int, list[int]] = {}
        for reg_id, tag in pushed:
            by_tag.setdefault(tag, []).append(reg_id)
        for tag, reg_ids in sorted(by_tag.items()):
            for start in range(0, len(reg_ids), _IN_LIMIT):
                self._s.execute(update(RegistrationRow).where(
                    RegistrationRow.id.in_(sorted(reg_ids[start:start + _IN_LIMIT])),
                    RegistrationRow.pushed_tag.is_(None) | (RegistrationRow.pushed_tag < tag))
                    .values(last_pushed_at=now, pushed_tag=tag).execution_options(synchronize_session=False))

    def forget_push_tokens(self, tokens: Sequence[str]) -> int:
        """APNs said these tokens are dead (410 / BadDeviceToken): delete their devices and registrations."""
        if not tokens:
            return 0
        ids = self._s.scalars(select(DeviceRow.id).where(DeviceRow.push_token.in_(list(tokens)))).all()
        if ids:
            self._s.execute(delete(RegistrationRow).where(RegistrationRow.device_id.in_(ids)))
            self._s.execute(delete(DeviceRow).where(DeviceRow.id.in_(ids)))
        return len(ids)
