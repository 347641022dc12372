"""The demo program created by ``walletpass init``: the "晨光 Morning Light" coffee shop."""

from __future__ import annotations

from typing import Any

DEMO_PROGRAM: dict[str, Any] = {
    "name": "Morning Light Rewards",
    "organization_name": "晨光 Morning Light",
    "points_label": "Points",
    "locales": ["en", "zh-Hant", "zh-Hans"],
    "time_zone": "Asia/Taipei",
    "quiet_hours": {"start": "21:00", "end": "09:00"},
    "background_color": "rgb(120, 72, 40)",
    "foreground_color": "rgb(255, 255, 255)",
    "label_color": "rgb(250, 220, 180)",
    "tiers": [
        {"name": "Bronze", "min_points": 0},
        {"name": "Silver", "min_points": 500, "background_color": "rgb(110, 117, 125)"},
        {"name": "Gold", "min_points": 2000, "background_color": "rgb(176, 132, 30)"},
        {"name": "Diamond", "min_points": 5000, "background_color": "rgb(30, 60, 110)"},
    ],
    "terms": "1 point per NT$1 spent. 200 points = a free coffee. Points expire 12 months after they are earned.",
    "description": "Morning Light member card",
    "how_to_earn": "Earn 1 point for every NT$1 you spend. 200 points = a free coffee of your choice.\n"
                   "Show this card at the counter before you pay.",
    "coupon_description": "Morning Light coupon",
    "how_to_redeem": "Show this coupon at the counter before you pay. The barista scans the code; each coupon can "
                     "be used once.",
    "texts": {
        "zh-Hant": {
            "organization_name": "晨光咖啡", "name": "晨光會員", "points_label": "點數",
            "terms": "每消費 NT$1 累積 1 點。200 點可兌換一杯免費咖啡。點數自獲得起 12 個月內有效。",
            "tier.Bronze": "銅卡", "tier.Silver": "銀卡", "tier.Gold": "金卡", "tier.Diamond": "鑽石卡",
            "description": "晨光會員卡",
            "how_to_earn": "每消費 NT$1 累積 1 點，集滿 200 點可任選一杯咖啡。\n結帳前請於櫃檯出示本卡。",
            "coupon_description": "晨光優惠券",
            "how_to_redeem": "結帳前請於櫃檯出示本優惠券，由店員掃描條碼；每張優惠券限用一次。",
        },
        "zh-Hans": {
            "organization_name": "晨光咖啡", "name": "晨光会员", "points_label": "积分",
            "terms": "每消费 NT$1 累积 1 分。200 积分可兑换一杯免费咖啡。积分自获得起 12 个月内有效。",
            "tier.Bronze": "铜卡", "tier.Silver": "银卡", "tier.Gold": "金卡", "tier.Diamond": "钻石卡",
            "description": "晨光会员卡",
            "how_to_earn": "每消费 NT$1 累积 1 积分，满 200 积分可任选一杯咖啡。\n结账前请在柜台出示本卡。",
            "coupon_description": "晨光优惠券",
            "how_to_redeem": "结账前请在柜台出示本优惠券，由店员扫描条码；每张优惠券限用一次。",
        },
    },
}

DEMO_MEMBER: dict[str, Any] = {"name": "Lin Mei", "email": "mei@example.com", "external_id": "demo-1",
                               "points": 1250}
