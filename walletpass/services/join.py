"""The enrolment page's use cases: count a visit, check a submitted form, enrol or recover, mail the card's link.

Recovery, and why the page never tells a stranger whether an address is enrolled:

- An email address or phone number already enrolled in the program never makes a second member: the member it
  names gets their own card back.
- **Mail configured** (``WALLETPASS_SMTP_URL``): the form asks for an email address, and every accepted form ends
  on the same "we've sent your card's link" page. A new address becomes a new member whose welcome mail carries
  the link; an enrolled one (or an enrolled phone) gets the link mailed to the address *on file* — never to the
  address typed, so knowing somebody's phone number gets a stranger nothing. A member with no address on file is
  sent nothing (the page is the same). So the answer, its status and its timing (the mail leaves from the outbox,
  not the request) are the same whether or not the address was enrolled, and a new customer still gets their card.
- **No mail configured**: there is no channel that proves who owns an address, so the page shows the card to
  whoever types a known address or phone ("you already have a card: here it is"); a new one lands on its new
  card. This trades privacy for convenience: operators who mind configure mail. The per-IP rate limit bounds
  guessing.

A submission that changes nothing (a recovery) still counts toward that limit, and the lookups and the new member
are one transaction under the program's row lock (PostgreSQL; SQLite's write lock already serialises), so two
quick submissions of one address cannot make two members.
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from walletpass.config import Settings
from walletpass.domain.jobs import Job, JobKind, JobOutcome, JobResult
from walletpass.domain.members import Member, normalize_email, normalize_phone, parse_birthday
from walletpass.domain.programs import Program
from walletpass.errors import InvalidInput, MailError, NotFound
from walletpass.mail.message import card_link_message
from walletpass.ports import Clock, Mailer, UnitOfWork
from walletpass.push.policy import backoff_delay
from walletpass.services.enrolment import enrol_in
from walletpass.urls import PublicUrls

log = logging.getLogger(__name__)

#: The longest name a member may have (members.name).
MAX_NAME = 200
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class JoinRequest:
    """A checked enrolment form: values normalised, the terms the visitor accepted (their SHA-256)."""

    name: str
    email: str | None
    phone: str | None
    birthday: date | None
    terms_sha256: str
    locale: str
    source: str | None = None


class JoinOutcome(StrEnum):
    CREATED = "created"      # a new member: show their card
    RECOVERED = "recovered"  # no mail configured and the address or phone is enrolled: show that member's card
    MAILED = "mailed"        # mail configured: the card's link is on its way (whether new or enrolled)


@dataclass(frozen=True, slots=True)
class JoinResult:
    outcome: JoinOutcome
    #: the card's public token (its pass page), None when MAILED
    token: str | None = None


def terms_digest(terms: str) -> str:
    """The SHA-256 (hex) of the terms text a visitor was shown, kept with their consent."""
    return hashlib.sha256(terms.encode()).hexdigest()


def check_form(form: Mapping[str, str], today: date, *, email_required: bool, terms: str, locale: str,
               source: str | None) -> tuple[JoinRequest | None, dict[str, str]]:
    """The form's values checked: (the request, {}) or (None, field → problem).

    Problems are codes the page words in the visitor's language: ``missing``, ``too_long``, ``invalid``,
    ``future`` (birthday), ``contact`` (neither email nor phone), ``consent`` (terms not accepted).
    """
    problems: dict[str, str] = {}
    name = form.get("name", "").strip()
    if not name:
        problems["name"] = "missing"
    elif len(name) > MAX_NAME:
        problems["name"] = "too_long"
    elif _CONTROL.search(name):
        problems["name"] = "invalid"
    email = form.get("email", "").strip() or None
    if email is not None and (len(email) > 254 or not _EMAIL.fullmatch(email)):
        problems["email"] = "invalid"
    phone = form.get("phone", "").strip() or None
    if phone is not None:
        try:
            phone = normalize_phone(phone)
        except InvalidInput:
            problems["phone"] = "invalid"
    if email_required and email is None:
        problems.setdefault("email", "missing")
    elif email is None and phone is None and "phone" not in problems:
        problems["email"] = "contact"
    birthday: date | None = None
    if form.get("birthday", "").strip():
        try:
            birthday = parse_birthday(form["birthday"].strip(), today)
        except InvalidInput as exc:
            problems["birthday"] = "future" if "future" in exc.detail else "invalid"
    if form.get("consent") != "yes":
        problems["consent"] = "consent"
    if problems:
        return None, problems
    return JoinRequest(name=name, email=normalize_email(email) if email else None, phone=phone,
                       birthday=birthday, terms_sha256=terms_digest(terms), locale=locale, source=source), {}


def record_visit(uow: UnitOfWork, clock: Clock, program_id: int, source: str | None) -> None:
    """Count a visit of the program's enrolment page (from *source*): one small insert."""
    with uow:
        uow.events.record(program_id, "visit", clock.now(), source=source)
        uow.commit()


def join(uow: UnitOfWork, clock: Clock, settings: Settings, program_id: int, req: JoinRequest) -> JoinResult:
    """Enrol the visitor, or give an enrolled address or phone its own card back (see the module docstring)."""
    now = clock.now()
    mail = settings.smtp_url is not None
    with uow:
        program = uow.programs.get(program_id, for_update=True)  # one enrolment of the program at a time
        known = _enrolled(uow, program.id, req)
        if known is not None:
            if mail:
                if known.email:
                    _queue_mail(uow, known, req.locale, welcome=False, now=now)
                uow.commit()
                return JoinResult(JoinOutcome.MAILED)
            return JoinResult(JoinOutcome.RECOVERED, uow.passes.of_member(known.id)[0].public_token)
        member = enrol_in(uow, settings, program, now, name=req.name, email=req.email, phone=req.phone,
                          birthday=req.birthday, source=req.source, consent=(now, req.terms_sha256))
        if mail:
            _queue_mail(uow, member, req.locale, welcome=True, now=now)
        token = uow.passes.of_member(member.id)[0].public_token
        uow.commit()
    return JoinResult(JoinOutcome.MAILED) if mail else JoinResult(JoinOutcome.CREATED, token)


def _enrolled(uow: UnitOfWork, program_id: int, req: JoinRequest) -> Member | None:
    """The member the form's email, else its phone, names in the program."""
    found = uow.members.by_email(program_id, req.email) if req.email else None
    if found is None and req.phone:
        found = uow.members.by_phone(program_id, req.phone)
    return found


def _queue_mail(uow: UnitOfWork, member: Member, locale: str, *, welcome: bool, now: datetime) -> None:
    uow.outbox.enqueue(JobKind.CARD_LINK_MAIL, {"member_id": member.id, "locale": locale, "welcome": welcome}, now)


def run_mail_jobs(jobs: Sequence[Job], *, uow: Callable[[], UnitOfWork], clock: Clock, settings: Settings,
                  mailer: Callable[[], Mailer | None], rng: random.Random | None = None) -> list[JobResult]:
    """Handle ``card_link_mail`` jobs (a JobHandler): mail each member their card's link, at the address on file.

    A server that is down or busy is tried again with backoff; one that refuses the message for good (5xx) parks
    the job with its answer; a member gone, or with no address any more, drops it.
    """
    rng = rng or random.Random()
    sender = mailer()
    urls = PublicUrls.of(settings)
    results = []
    for job in jobs:
        if sender is None:  # mail was configured when the job was written, and no longer is
            results.append(JobResult(job, JobOutcome.SKIPPED, error="WALLETPASS_SMTP_URL is not set"))
            continue
        try:
            with uow() as u:
                member = u.members.get(int(job.payload["member_id"]))
                program = u.programs.get(member.program_id)
                token = u.passes.of_member(member.id)[0].public_token
        except (NotFound, IndexError):
            results.append(JobResult(job, JobOutcome.SKIPPED, error="the member or their card is gone"))
            continue
        if not member.email:
            results.append(JobResult(job, JobOutcome.SKIPPED, error="the member has no email address"))
            continue
        locale = str(job.payload.get("locale", "en"))
        message = card_link_message(to=member.email, sender=settings.mail_sender, program=_name(program, locale),
                                    name=member.name, link=urls.page(token), locale=locale,
                                    welcome=bool(job.payload.get("welcome")))
        try:
            sender.send(message)
        except MailError as exc:
            if exc.permanent:
                results.append(JobResult(job, JobOutcome.PARK, error=exc.detail))
            else:
                log.warning("card link mail to member %s not sent yet: %s", member.id, exc.detail)
                wait = backoff_delay(job.attempts + 1, base=30.0, cap=3600.0, rng=rng)
                results.append(JobResult(job, JobOutcome.RETRY, at=clock.now() + timedelta(seconds=wait),
                                         error=exc.detail))
            continue
        results.append(JobResult(job, JobOutcome.DONE))
    return results


def _name(program: Program, locale: str) -> str:
    return program.text(locale, "name", program.name)
