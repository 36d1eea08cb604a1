"""Paddle transactions and adjustments as the API serves them today, for the simulator's account.

Shapes follow ``../shared/paddle/openapi.yaml`` plus the fields real responses carry that are newer than it
(``../shared/paddle/README.md``, "Fields newer than openapi.yaml"): transaction ``details.totals.credit_to_balance``
and ``grand_total_tax``, ``payout_totals.exchange_rate`` and ``fee_rate``; adjustment ``type``,
``tax_rates_used``, ``totals.retained_fee`` and ``payout_totals.retained_fee``. The official Python SDK reads
every one of them (``tests/test_sdk_fidelity.py``).

Amounts are integers in minor units written as strings. Tax is taken as a fifth of the net (20% VAT included in
the price), computed in integers so every total adds up exactly.
"""

from __future__ import annotations

import uuid
from typing import Any

from .ids import iso

PAYOUT_CURRENCIES = {"AUD", "CAD", "CHF", "CNY", "CZK", "DKK", "EUR", "GBP", "HUF", "PLN", "SEK", "USD", "ZAR"}
TAX_RATE = "0.2"


def split_tax(gross: int) -> tuple[int, int]:
    """(net, tax) of a tax-inclusive amount at 20%, exact in integers (net + tax == gross)."""
    net = gross * 5 // 6
    return net, gross - net


def _totals(gross: int) -> dict[str, str]:
    net, tax = split_tax(gross)
    return {"subtotal": str(net), "discount": "0", "tax": str(tax), "total": str(gross)}


def line(line_id: str, price: dict[str, Any], gross: int, proration: dict[str, Any] | None) -> dict[str, Any]:
    """One ``details.line_items`` entry: a price charged (gross > 0) or credited (gross < 0) once."""
    totals = _totals(gross)
    return {"id": line_id, "price_id": price["id"], "quantity": 1, "proration": proration, "tax_rate": TAX_RATE,
            "unit_totals": totals, "totals": totals, "product": price["product"]}


def proration(starts: int, ends: int, rate: str) -> dict[str, Any]:
    """A line's proration: the share of the billing period it covers."""
    return {"rate": rate, "billing_period": {"starts_at": iso(starts), "ends_at": iso(ends)}}


def transaction(
    *,
    txn_id: str,
    customer_id: str,
    address_id: str | None,
    currency: str,
    origin: str,
    subscription_id: str | None,
    collection_mode: str,
    lines: list[tuple[dict[str, Any], dict[str, Any]]],
    credit: int,
    created: int,
    period: tuple[int, int] | None,
    invoice: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """A transaction in status ``ready`` whose line items sum to its total; the caller moves its status on.

    ``lines`` pairs each price object with its line item. ``credit`` is the customer's credit applied to it
    (``details.totals.credit``). When the lines sum below zero (a prorated downgrade), what is left over goes
    to the customer's balance as ``credit_to_balance`` and the transaction asks for nothing (``grand_total``
    0, no payment), as Paddle does since 11 March 2024.
    """
    gross = sum(int(item["totals"]["total"]) for _price, item in lines)
    to_balance = -gross if gross < 0 else 0
    due = max(0, gross - credit)
    net, tax = split_tax(gross)
    due_net, due_tax = split_tax(due)
    totals = {"subtotal": str(net), "discount": "0", "tax": str(tax), "total": str(gross), "credit": str(credit),
              "credit_to_balance": str(to_balance), "balance": str(due), "grand_total": str(due),
              "grand_total_tax": str(due_tax), "fee": None, "earnings": None, "currency_code": currency}
    if due > 0:
        fee = due // 20 + 50
        totals["fee"], totals["earnings"] = str(fee), str(due_net - fee)
    details: dict[str, Any] = {
        "tax_rates_used": [{"tax_rate": TAX_RATE, "totals": {"subtotal": str(net), "discount": "0", "tax": str(tax),
                                                             "total": str(gross)}}],
        "totals": totals,
        "adjusted_totals": {"subtotal": str(net), "tax": str(tax), "total": str(gross), "grand_total": str(due),
                            "grand_total_tax": str(due_tax), "fee": totals["fee"], "earnings": totals["earnings"],
                            "retained_fee": "0", "currency_code": currency},
        "payout_totals": None,
        "adjusted_payout_totals": None,
        "line_items": [item for _price, item in lines],
    }
    if currency in PAYOUT_CURRENCIES:
        details["payout_totals"] = {
            "subtotal": str(net), "discount": "0", "tax": str(tax), "total": str(gross), "credit": str(credit),
            "credit_to_balance": str(to_balance), "balance": str(due), "grand_total": str(due),
            "grand_total_tax": str(due_tax), "fee": totals["fee"] or "0", "earnings": totals["earnings"] or "0",
            "fee_rate": "0.05", "exchange_rate": "1.0", "currency_code": currency,
        }
    return {
        "id": txn_id, "status": "ready", "customer_id": customer_id, "address_id": address_id, "business_id": None,
        "custom_data": None, "currency_code": currency, "origin": origin, "subscription_id": subscription_id,
        "invoice_id": invoice[0] if invoice else None, "invoice_number": invoice[1] if invoice else None,
        "collection_mode": collection_mode, "discount_id": None,
        "billing_details": {"enable_checkout": False, "purchase_order_number": "", "additional_information": None,
                            "payment_terms": {"interval": "day", "frequency": 14}}
        if collection_mode == "manual" else None,
        "billing_period": {"starts_at": iso(period[0]), "ends_at": iso(period[1])} if period else None,
        "items": [{"price": price, "price_id": price["id"], "quantity": 1, "proration": item["proration"]}
                  for price, item in lines],
        "details": details, "payments": [], "checkout": None if collection_mode == "manual" else {"url": None},
        "created_at": iso(created), "updated_at": iso(created), "billed_at": None, "revised_at": None,
    }


def payment(txn_id: str, attempt: int, amount: int, created: int, *, captured: bool) -> dict[str, Any]:
    """One payment attempt on a transaction (``payments[]``, newest first on the transaction), captured at
    ``created`` or declined. Its ids derive from the transaction's, so recording payments draws nothing from the
    account's generator (the account for a seed stays the same)."""
    attempt_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{txn_id}/{attempt}"))
    return {
        "payment_attempt_id": attempt_id, "stored_payment_method_id": attempt_id,
        "payment_method_id": "paymtd_" + txn_id.split("_", 1)[1], "amount": str(amount),
        "status": "captured" if captured else "error", "error_code": None if captured else "declined",
        "method_details": {"type": "card", "card": {"type": "visa", "last4": "4242", "expiry_month": 1,
                                                    "expiry_year": 2030, "cardholder_name": "Sam Example"}},
        "created_at": iso(created), "captured_at": iso(created) if captured else None,
    }


def adjustment(
    *,
    adj_id: str,
    item_id: str,
    action: str,
    transaction_id: str,
    subscription_id: str | None,
    customer_id: str,
    currency: str,
    amount: int,
    status: str,
    ms: int,
    reason: str,
    applied_to_balance: bool | None,
    item_type: str,
    transaction_item_id: str,
) -> dict[str, Any]:
    """A Paddle adjustment; ``amount`` is its gross total (negative for a ``credit_reverse``)."""
    net, tax = split_tax(amount)
    fee = amount // 20 if action == "refund" else 0
    totals = {"subtotal": str(net), "tax": str(tax), "total": str(amount), "fee": str(fee),
              "earnings": str(net - fee), "retained_fee": "0", "currency_code": currency}
    payout = None
    if currency in PAYOUT_CURRENCIES:
        payout = dict(totals, chargeback_fee={"amount": "0", "original": None})
    return {
        "id": adj_id, "action": action, "type": "partial", "transaction_id": transaction_id,
        "subscription_id": subscription_id, "customer_id": customer_id, "reason": reason,
        "credit_applied_to_balance": applied_to_balance, "currency_code": currency, "status": status,
        "items": [{"id": item_id, "item_id": transaction_item_id, "type": item_type, "amount": str(amount),
                   "proration": None, "totals": {"subtotal": str(net), "tax": str(tax), "total": str(amount)}}],
        "totals": totals,
        "payout_totals": payout,
        "tax_rates_used": [{"tax_rate": TAX_RATE, "totals": {"subtotal": str(net), "tax": str(tax),
                                                             "total": str(amount)}}],
        "created_at": iso(ms), "updated_at": iso(ms),
    }


__all__ = ["PAYOUT_CURRENCIES", "adjustment", "line", "proration", "split_tax", "transaction"]
