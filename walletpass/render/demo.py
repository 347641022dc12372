"""The "晨光 Morning Light" coffee shop as values: the seed program of PRODUCT.md, for demos, tests, benches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from walletpass.demo import DEMO_PROGRAM
from walletpass.domain.members import Member
from walletpass.domain.offers import Coupon, Offer
from walletpass.domain.passes import COUPON, MEMBER_CARD, PassRef
from walletpass.domain.programs import OWN_TEXTS, PASS_TEXTS, Program, Tier

EPOCH = datetime(2026, 5, 1, 9, 0, 0, tzinfo=UTC)


def demo_program(program_id: int = 1, *, version: int = 1) -> Program:
    """晨光 Morning Light: 1 point per NT$1, Bronze / Silver / Gold / Diamond, three locales; its texts (terms,
    how to earn and redeem, descriptions, translations) are those of the program ``walletpass init`` creates."""
    return Program(
        id=program_id,
        name="Morning Light Rewards",
        organization_name="晨光 Morning Light",
        background_color="rgb(120, 72, 40)",
        foreground_color="rgb(255, 250, 240)",
        label_color="rgb(250, 214, 140)",
        tiers=(
            Tier("Bronze", 0),
            Tier("Silver", 1000, background_color="rgb(110, 116, 124)"),
            Tier("Gold", 3000, background_color="rgb(150, 112, 20)", label_color="rgb(255, 236, 170)"),
            Tier("Diamond", 8000, background_color="rgb(28, 44, 74)", label_color="rgb(170, 210, 255)"),
        ),
        locales=("en", "zh-Hant", "zh-Hans"),
        terms=DEMO_PROGRAM["terms"],
        texts={**{locale: dict(t) for locale, t in DEMO_PROGRAM["texts"].items()},
               OWN_TEXTS: {name: DEMO_PROGRAM[name] for name in PASS_TEXTS}},
        updated_at=EPOCH,
        version=version,
    )


def demo_member(member_id: int = 1, *, points: int = 1250, tier: str | None = "Silver") -> Member:
    return Member(id=member_id, program_id=1, name="Lin Mei-Hua", member_number=f"ML{member_id:08d}",
                  points=points, tier=tier, email="mei@example.com", created_at=EPOCH)


def demo_pass_ref(serial: str = "ml-member-0001", *, kind: str = MEMBER_CARD,
                  pass_type_id: str = "pass.dev.walletpass.member", voided: bool = False) -> PassRef:
    return PassRef(serial_number=serial, pass_type_id=pass_type_id,
                   authentication_token="tok-0123456789abcdef0123", kind=kind, update_tag=1,
                   updated_at=EPOCH, voided=voided)


def demo_offer(offer_id: int = 1) -> Offer:
    return Offer(id=offer_id, program_id=1, title="Free pastry with any latte", description="Any pastry from the "
                 "counter, free with a latte of any size.", discount="Free pastry", valid_from=EPOCH,
                 valid_until=EPOCH + timedelta(days=14), terms="One coupon per visit. Not combinable.")


def demo_coupon(coupon_id: int = 1, *, state: str = "issued") -> Coupon:
    return Coupon(id=coupon_id, offer_id=1, code=f"MLC-{coupon_id:06d}", state=state, member_id=1)


def demo_coupon_ref(serial: str = "ml-coupon-0001", *, voided: bool = False) -> PassRef:
    return demo_pass_ref(serial, kind=COUPON, pass_type_id="pass.dev.walletpass.coupon", voided=voided)
