"""What the simulator's synthetic account is made of: its moments, shares, currencies, locales, names, plans
and prices, and the small helpers every part of the account uses to draw from them."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from itertools import accumulate
from typing import Any

from .ids import iso, random_id


def _month_start(moment: datetime) -> datetime:
    """Midnight UTC on the first day of ``moment``'s month."""
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


# The account's history ends at the start of the current month: the same account (for a seed) all month,
# and never a stale one. Paddle serves events of the last 90 days only, so a fixed date would leave the
# simulator with no historical events to serve a few months on.
ANCHOR = _month_start(datetime.now(UTC))
ANCHOR_MS = int(ANCHOR.timestamp() * 1000)
DAY_MS = 86_400_000
#: Paddle's "proration improvements": from this moment credit comes from transactions, not adjustments.
REGIME_CHANGE = datetime(2024, 3, 11, tzinfo=UTC)
REGIME_CHANGE_MS = int(REGIME_CHANGE.timestamp() * 1000)
# Signups span the last 24 months, and reach back at least a year before the regime change so the account
# holds both kinds of credit.
SIGNUP_START_MS = min(ANCHOR_MS - 730 * DAY_MS, REGIME_CHANGE_MS - 365 * DAY_MS)
SIGNUP_SPAN_MS = ANCHOR_MS - SIGNUP_START_MS

SUBSCRIBED_SHARE = 0.65  # the rest are one-time buyers, who never hold credit
CREDIT_SHARE = 0.30  # of subscribers: ever made a change that left credit
ARCHIVED_SHARE = 0.10
TWO_CURRENCY_SHARE = 0.15
REFUND_SHARE = 0.08
SELLER_CREDIT_SHARE = 0.05
PENDING_SHARE = 0.15  # legacy credit adjustments first pending_approval
REJECTED_SHARE = 0.03
REVERSED_SHARE = 0.02  # legacy credits clawed back by a credit_reverse (the first one always is)
NEXT_PERIOD_SHARE = 0.25  # changes billed prorated_next_billing_period: credit lands on the renewal
#: Events older than this before the anchor are never served (90 days), so they are not kept.
EVENTS_KEPT_MS = 120 * DAY_MS

# currency -> (lowest, highest) credit adjustment in minor units; JPY and KRW are zero-decimal,
# so their amounts are whole yen / won at realistic magnitudes.
CREDIT_RANGE: dict[str, tuple[int, int]] = {
    "USD": (500, 60_000),
    "EUR": (500, 50_000),
    "GBP": (500, 45_000),
    "JPY": (500, 80_000),
    "AUD": (800, 90_000),
    "KRW": (5_000, 800_000),
    "CAD": (700, 80_000),
    "BRL": (2_500, 300_000),
}
# Every currency appears in a small account too: the first credit customers take them in turn.
CURRENCY_ROTATION = ["USD", "EUR", "GBP", "JPY", "AUD", "KRW", "CAD", "BRL"]

# locale -> (weight, currencies a customer there pays in)
LOCALES: dict[str, tuple[int, list[str]]] = {
    "en": (48, ["USD", "USD", "USD", "GBP", "AUD", "CAD"]),
    "de": (12, ["EUR"]),
    "fr": (10, ["EUR"]),
    "es": (8, ["EUR", "USD"]),
    "ja": (8, ["JPY"]),
    "pt": (6, ["BRL", "EUR"]),
    "ko": (4, ["KRW"]),
    "it": (4, ["EUR"]),
}
FIRST_NAMES = {
    "en": ["Jamie", "Alex", "Sam", "Morgan", "Taylor", "Jordan", "Casey", "Riley", "Avery", "Quinn"],
    "de": ["Lukas", "Anna", "Jonas", "Lea", "Felix", "Mia", "Paul", "Emma"],
    "fr": ["Camille", "Louis", "Chloé", "Hugo", "Léa", "Jules", "Manon", "Arthur"],
    "es": ["Lucía", "Mateo", "Sofía", "Hugo", "Martina", "Pablo", "Valeria", "Diego"],
    "ja": ["Haruto", "Yui", "Sota", "Hina", "Ren", "Aoi", "Yuto", "Sakura"],
    "pt": ["João", "Ana", "Pedro", "Beatriz", "Lucas", "Mariana", "Gabriel", "Júlia"],
    "ko": ["Minjun", "Seoyeon", "Jiho", "Haeun", "Doyun", "Jiwoo", "Seojun", "Yuna"],
    "it": ["Giulia", "Marco", "Chiara", "Luca", "Sara", "Matteo", "Elena", "Andrea"],
}
LAST_NAMES = {
    "en": ["Price", "Wilson", "Miller", "Clarke", "Brown", "Taylor", "Evans", "Walker", "Hughes", "Reid"],
    "de": ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Wagner", "Becker", "Hoffmann"],
    "fr": ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand"],
    "es": ["García", "Martínez", "López", "Sánchez", "Pérez", "Gómez", "Ruiz", "Díaz"],
    "ja": ["Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto", "Nakamura"],
    "pt": ["Silva", "Santos", "Oliveira", "Souza", "Costa", "Pereira", "Almeida", "Ferreira"],
    "ko": ["Kim", "Lee", "Park", "Choi", "Jung", "Kang", "Cho", "Yoon"],
    "it": ["Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci"],
}
ASCII = str.maketrans("éèüöäóíúñçãáú", "eeuoaoiuncaau")

PLANS = [("starter", 45), ("growth", 30), ("scale", 15), ("enterprise", 10)]
SEGMENTS = {"starter": ["smb"], "growth": ["smb", "mid-market"], "scale": ["mid-market"],
            "enterprise": ["enterprise"]}
PLAN_SCALE = {"starter": 1, "growth": 2, "scale": 4, "enterprise": 8, None: 1}
# monthly list price per plan in USD cents; other currencies scale by a rough factor
PLAN_PRICE_USD = {"starter": 2_900, "growth": 9_900, "scale": 29_900, "enterprise": 99_900}
PRICE_FACTOR = {"USD": 1.0, "EUR": 0.95, "GBP": 0.8, "JPY": 1.5, "AUD": 1.5, "KRW": 13.5, "CAD": 1.4,
                "BRL": 5.5}
PORTAL = "https://buyer-portal.paddle.com/subscriptions"
SUBSCRIPTION_STATUSES = [("active", 84), ("past_due", 4), ("paused", 4), ("trialing", 4), ("canceled", 4)]


_LOCALE_NAMES = list(LOCALES)
_LOCALE_CUM = list(accumulate(w for w, _c in LOCALES.values()))
_PLAN_NAMES = [p for p, _w in PLANS]
_PLAN_CUM = list(accumulate(w for _p, w in PLANS))


def _weighted(rng: random.Random, pairs: list[tuple[Any, int]]) -> Any:
    """Pick one value from (value, weight) pairs."""
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _credit_amount(rng: random.Random, currency: str, plan: str | None) -> int:
    """A log-uniform credit amount in minor units, larger for bigger plans."""
    low, high = CREDIT_RANGE[currency]
    return int(low * (high / low) ** rng.random()) * PLAN_SCALE.get(plan, 1)


def _ms(at: datetime | int | None) -> int | None:
    """A moment as epoch ms (None stays None): tests pass datetimes, the ledger keeps ms."""
    if at is None or isinstance(at, int):
        return at
    return int(at.timestamp() * 1000)


def _ms_of(stamp: str) -> int:
    """An ISO stamp the simulator wrote, back to epoch ms."""
    return int(datetime.fromisoformat(stamp).timestamp() * 1000)



def build_catalog(seed: int, signup_start_ms: int) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Products per plan and prices per (plan, interval, currency), shared by every subscription."""
    rng = random.Random(seed * 31 + 3)
    created = signup_start_ms - 30 * DAY_MS
    catalog: dict[tuple[str, str, str], dict[str, Any]] = {}
    for plan, _weight in PLANS:
        product = {
            "id": random_id("pro", created, rng), "name": f"{plan.title()} plan", "type": "standard",
            "tax_category": "saas", "image_url": None, "custom_data": None, "status": "active",
            "import_meta": None, "created_at": iso(created), "updated_at": iso(created),
        }
        for interval in ("month", "year"):
            for currency, factor in PRICE_FACTOR.items():
                # USD cents times the factor gives whole yen / won directly (zero-decimal currencies)
                amount = int(PLAN_PRICE_USD[plan] * factor) * (10 if interval == "year" else 1)
                catalog[(plan, interval, currency)] = {
                    "id": random_id("pri", created, rng), "product_id": product["id"], "type": "standard",
                    "description": f"{plan.title()} {interval}ly ({currency})",
                    "name": f"{plan.title()} {interval}ly",
                    "billing_cycle": {"interval": interval, "frequency": 1}, "trial_period": None,
                    "tax_mode": "account_setting",
                    "unit_price": {"amount": str(amount), "currency_code": currency},
                    "unit_price_overrides": [], "quantity": {"minimum": 1, "maximum": 100},
                    "status": "active", "custom_data": None, "import_meta": None,
                    "created_at": iso(created), "updated_at": iso(created), "product": product,
                }
    return catalog
