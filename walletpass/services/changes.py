"""A pass changed: give it a new version and tell every wallet that holds it, in the change's own transaction.

The rule (a new tag, a strictly later Last-Modified) is :mod:`walletpass.domain.passes`; storage persists it;
each wallet provider of ``uow.wallets`` records what it must deliver (``uow.outbox``). The caller commits, so a
change that commits always has its deliveries recorded, and a 2xx answer means list-since-tag already sees it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from walletpass.domain.passes import PassesChanged, PassSelection, new_versions
from walletpass.ports import UnitOfWork


def passes_changed(uow: UnitOfWork, pass_ids: Iterable[int], now: datetime, *, reason: str,
                   coalesce_seconds: float = 0.0) -> PassesChanged | None:
    """The passes *pass_ids* changed at *now* because of *reason*; None when there are none.

    The new Last-Modified of each is computed once the tag counter is held: a change of the same pass that
    committed while this one waited has a smaller tag, and must keep an earlier Last-Modified too.
    """
    ids = tuple(dict.fromkeys(pass_ids))
    if not ids:
        return None
    tag = uow.passes.next_tag()
    uow.passes.set_versions(new_versions(uow.passes.last_modified(ids), now), tag)
    return _tell(uow, PassesChanged(PassSelection(pass_ids=ids), tag, now, reason, coalesce_seconds))


def program_changed(uow: UnitOfWork, program_id: int, now: datetime, *, reason: str = "design",
                    coalesce_seconds: float = 0.0) -> PassesChanged | None:
    """The program's design changed: every pass of it gets one new tag, set-based (a handful of statements for
    100,000 passes), and every wallet updates what it keeps per program (Google: the class)."""
    change = None
    if uow.passes.of_program_exist(program_id):
        tag = uow.passes.next_tag()
        uow.passes.bump_program(program_id, tag, now)
        change = _tell(uow, PassesChanged(PassSelection(program_id=program_id), tag, now, reason, coalesce_seconds))
    for wallet in uow.wallets:
        wallet.on_program_changed(uow, program_id, now)
    return change


def _tell(uow: UnitOfWork, change: PassesChanged) -> PassesChanged:
    for wallet in uow.wallets:
        wallet.on_passes_changed(uow, change)
    return change
