"""Automations: programs' rules, the runs that fired them (unique per program, rule, member and period), and the
daily runs (one per program and day)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, delete, exists, extract, func, or_, select, update

from walletpass.domain.automations import BIRTHDAY, WIN_BACK, Automation, Fired
from walletpass.domain.campaigns import Message
from walletpass.domain.segments import Segment
from walletpass.storage.repositories._base import SessionRepository, dialect_insert
from walletpass.storage.repositories.members import segment_where
from walletpass.storage.tables import (
    AutomationDayRow,
    AutomationRow,
    AutomationRunRow,
    LedgerEntryRow,
    MemberRow,
)

PENDING, DONE = "pending", "done"


def to_automation(row: AutomationRow) -> Automation:
    return Automation(rule=row.rule, enabled=row.enabled, offer_id=row.offer_id,
                      message=Message(dict(row.message)) if row.message else None, segment=row.segment,
                      days=row.days, updated_at=row.updated_at)


def _last_activity() -> Any:
    """Over ``members``: the member's last transaction, else their enrolment."""
    last_entry = (select(func.max(LedgerEntryRow.created_at)).where(LedgerEntryRow.member_id == MemberRow.id)
                  .scalar_subquery())
    return func.coalesce(last_entry, MemberRow.created_at)


class AutomationRepository(SessionRepository):
    # -- rules ------------------------------------------------------------------------------------------------
    def rules(self, program_id: int) -> list[Automation]:
        return [to_automation(r) for r in self._s.scalars(
            select(AutomationRow).where(AutomationRow.program_id == program_id).order_by(AutomationRow.rule))]

    def rule(self, program_id: int, rule: str) -> Automation | None:
        row = self._s.get(AutomationRow, (program_id, rule))
        return None if row is None else to_automation(row)

    def replace(self, program_id: int, rules: Sequence[Automation], now: datetime) -> None:
        """The program's rules become *rules* (the others are removed; what they fired stays recorded)."""
        self._s.execute(delete(AutomationRow).where(AutomationRow.program_id == program_id))
        for a in rules:
            self._s.add(AutomationRow(program_id=program_id, rule=a.rule, enabled=a.enabled, offer_id=a.offer_id,
                                      message=dict(a.message.texts) if a.message else None,
                                      segment=_json(a.segment), days=a.days, updated_at=now))
        self._s.flush()

    def fired(self, program_id: int) -> dict[str, Fired]:
        """Per rule: how many times it fired for the program (members reached), and when last."""
        rows = self._s.execute(select(AutomationRunRow.rule, func.count(), func.max(AutomationRunRow.created_at))
                               .where(AutomationRunRow.program_id == program_id).group_by(AutomationRunRow.rule))
        return {rule: Fired(int(n), last) for rule, n, last in rows}

    # -- who a rule reaches now -----------------------------------------------------------------------------
    def birthdays(self, program_id: int, segment: Segment, month_days: Sequence[tuple[int, int]], period: str, *,
                  after_id: int, limit: int) -> list[int]:
        """Members of the program in *segment* whose birthday is one of *month_days* and whom the birthday rule has
        not reached in *period*: ids after *after_id*, in order (one query, set-based)."""
        fired = exists().where(AutomationRunRow.program_id == program_id, AutomationRunRow.rule == BIRTHDAY,
                               AutomationRunRow.member_id == MemberRow.id, AutomationRunRow.period == period)
        born = or_(*(and_(extract("month", MemberRow.birthday) == m, extract("day", MemberRow.birthday) == d)
                     for m, d in month_days))
        return list(self._s.scalars(
            select(MemberRow.id).where(*segment_where(program_id, segment), MemberRow.id > after_id,
                                       MemberRow.birthday.is_not(None), born, ~fired)
            .order_by(MemberRow.id).limit(limit)))

    def lapsed(self, program_id: int, segment: Segment, before: datetime, *, after_id: int,
               limit: int) -> list[tuple[int, datetime]]:
        """Members of the program in *segment* whose last activity (transaction, else enrolment) is at or before
        *before*, and whom the win-back rule has not reached since: (id, last activity) after *after_id*."""
        last = _last_activity()
        fired = exists().where(AutomationRunRow.program_id == program_id, AutomationRunRow.rule == WIN_BACK,
                               AutomationRunRow.member_id == MemberRow.id, AutomationRunRow.created_at >= last)
        rows = self._s.execute(
            select(MemberRow.id, last).where(*segment_where(program_id, segment), MemberRow.id > after_id,
                                             last <= before, ~fired)
            .order_by(MemberRow.id).limit(limit))
        return [(int(member_id), at) for member_id, at in rows]

    def matching(self, program_id: int, segment: Segment, member_ids: Sequence[int]) -> list[int]:
        """Which of *member_ids* are in the program's *segment*."""
        return list(self._s.scalars(select(MemberRow.id).where(*segment_where(program_id, segment),
                                                              MemberRow.id.in_(list(member_ids)))))

    # -- runs ---------------------------------------------------------------------------------------------------
    def add_runs(self, program_id: int, rule: str, periods: Mapping[int, str], *, notify: bool,
                 now: datetime) -> dict[int, int]:
        """Record that *rule* fired for each member of *periods* (member id → period); return member id → run id
        of those recorded now. A member the rule already reached in that period — also by a concurrent
        transaction, which this one then waits for — is left out (INSERT … ON CONFLICT DO NOTHING)."""
        if not periods:
            return {}
        insert = dialect_insert(self._s.get_bind().dialect.name)
        rows = [{"program_id": program_id, "rule": rule, "member_id": m, "period": p, "notify": notify,
                 "created_at": now} for m, p in sorted(periods.items())]  # in key order: no deadlock between two
        stmt = (insert(AutomationRunRow).values(rows)
                .on_conflict_do_nothing(index_elements=["program_id", "rule", "member_id", "period"])
                .returning(AutomationRunRow.member_id, AutomationRunRow.id))
        return {int(m): int(i) for m, i in self._s.execute(stmt)}

    def set_coupons(self, coupons: Mapping[int, int]) -> None:
        """Run id → the coupon it gave."""
        if coupons:
            # ORM bulk UPDATE by primary key: one executemany
            self._s.execute(update(AutomationRunRow), [{"id": r, "coupon_id": c} for r, c in coupons.items()])

    def unsent_messages(self, program_id: int, rule: str, limit: int) -> list[tuple[int, int]]:
        """(run id, member id) of runs whose message no campaign carries yet, oldest first; rows another
        transaction holds are skipped (PostgreSQL), so two workers never take the same run."""
        return [(int(r), int(m)) for r, m in self._s.execute(
            select(AutomationRunRow.id, AutomationRunRow.member_id)
            .where(AutomationRunRow.program_id == program_id, AutomationRunRow.notify.is_(True),
                   AutomationRunRow.campaign_id.is_(None), AutomationRunRow.rule == rule)
            .order_by(AutomationRunRow.id).limit(limit).with_for_update(skip_locked=True))]

    def set_campaign(self, run_ids: Sequence[int], campaign_id: int) -> None:
        """The campaign that carries these runs' message."""
        self._set_runs(run_ids, campaign_id=campaign_id)

    def drop_messages(self, run_ids: Sequence[int]) -> None:
        """These runs get no message after all (their rule has none any more)."""
        self._set_runs(run_ids, notify=False)

    def _set_runs(self, run_ids: Sequence[int], **values: Any) -> None:
        if run_ids:
            self._s.execute(update(AutomationRunRow).where(AutomationRunRow.id.in_(list(run_ids))).values(**values)
                            .execution_options(synchronize_session=False))

    # -- daily runs -----------------------------------------------------------------------------------------------
    def schedule_day(self, program_id: int, day: date, due_at: datetime, *, again: bool = False) -> bool:
        """Queue the program's run of *day* unless it is queued already; *again*: also when it ran already (it
        runs once more). True when the caller must enqueue its job (this transaction made it pending)."""
        insert = dialect_insert(self._s.get_bind().dialect.name)
        added = self._s.execute(insert(AutomationDayRow).values(program_id=program_id, day=day, state=PENDING,
                                                                due_at=due_at)
                                .on_conflict_do_nothing(index_elements=["program_id", "day"])
                                .returning(AutomationDayRow.day)).first()
        if added is not None:
            return True
        if not again:
            return False
        reopened = self._s.execute(update(AutomationDayRow).where(
            AutomationDayRow.program_id == program_id, AutomationDayRow.day == day, AutomationDayRow.state == DONE)
            .values(state=PENDING, due_at=due_at, finished_at=None).execution_options(synchronize_session=False))
        return bool(getattr(reopened, "rowcount", 0))

    def day_pending(self, program_id: int, day: date) -> bool:
        return self._s.scalar(select(AutomationDayRow.state).where(
            AutomationDayRow.program_id == program_id, AutomationDayRow.day == day)) == PENDING

    def finish_day(self, program_id: int, day: date, now: datetime) -> bool:
        """Mark the run of *day* done; False when another worker did (or it was never queued)."""
        result = self._s.execute(update(AutomationDayRow).where(
            AutomationDayRow.program_id == program_id, AutomationDayRow.day == day, AutomationDayRow.state == PENDING)
            .values(state=DONE, finished_at=now).execution_options(synchronize_session=False))
        return bool(getattr(result, "rowcount", 0))

    def next_run(self, program_id: int) -> datetime | None:
        """When the program's next daily run is due (None: none is queued)."""
        return self._s.scalar(select(func.min(AutomationDayRow.due_at)).where(
            AutomationDayRow.program_id == program_id, AutomationDayRow.state == PENDING))


def _json(segment: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> Any:
    return dict(segment) if isinstance(segment, Mapping) else [dict(c) for c in segment]
