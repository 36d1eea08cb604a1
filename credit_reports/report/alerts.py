"""What in a report needs a finance lead's attention: the reasons behind "Attention:" in the subject and index.

Read from the report's manifest only, so the index, the email and the manifest always agree:

- the snapshot is incomplete (some customers' balances could not be fetched);
- a currency's roll-forward leaves an unexplained difference other than zero (``unexplained`` in the
  manifest's ``roll_forward`` or ``reconciliation`` per currency, when the report reconciles);
- the fetch fell back from verifying against events (``snapshot.verification.fallback``);
- outstanding credit in a currency changed over the period by more than ``outstanding_change_share``
  (only when that alert is configured);
- a currency the report was asked for (``currencies``) has no data in the snapshot: a report that is
  empty where it was asked to show something is a question, not an answer;
- any check of the pack that fails (``checks`` in the manifest, :mod:`credit_reports.report.status`: the
  reserved and used checks, closing against the headline, the translated roll-forward, the journal against
  the roll-forward, the GL tie-out): a check that fails is an Attention, always;
- a currency whose movements the journal does not book (``journal.withheld``: no event evidence, or a
  negative issued or used).

Each reason says where to look.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from credit_reports.core.errors import UsageError
from credit_reports.core.money import format_money
from credit_reports.report.status import check_failures
from credit_reports.store.manifests import ReportManifest

__all__ = ["attention_reasons", "maturity_reasons", "missing_currencies", "outstanding_change",
           "unexplained_differences"]


def unexplained_differences(manifest: ReportManifest | Mapping[str, Any]) -> dict[str, int]:
    """Per currency, the unexplained difference (minor units) the report gives, when it gives one."""
    manifest = ReportManifest.from_json(manifest)
    found: dict[str, int] = {}
    # ``reconciliation`` is not written by this toolkit's render; a report that reconciles may add it
    for block in (manifest.roll_forward, manifest.extra.get("reconciliation")):
        if isinstance(block, Mapping) and isinstance(block.get("currencies"), Mapping):
            block = block["currencies"]
        if not isinstance(block, Mapping):
            continue
        for code, figures in block.items():
            if isinstance(figures, Mapping) and isinstance(figures.get("unexplained"), int):
                found.setdefault(str(code), int(figures["unexplained"]))
    return found


def outstanding_change(manifest: ReportManifest | Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    """Per currency, (opening, closing) outstanding over the report's period, from its roll-forward."""
    roll = ReportManifest.from_json(manifest).roll_forward
    if not isinstance(roll, Mapping):
        return {}
    out = {}
    for code, figures in roll.items():
        if isinstance(figures, Mapping) and {"opening", "closing"} <= set(figures):
            out[str(code)] = (int(figures["opening"]), int(figures["closing"]))
    return out


def _fallback(manifest: ReportManifest) -> str | None:
    verification = manifest.snapshot.verification
    if isinstance(verification, Mapping) and verification.get("fallback"):
        why = verification.get("fallback")
        return why if isinstance(why, str) else "verification fell back"
    return None


def missing_currencies(manifest: ReportManifest | Mapping[str, Any]) -> list[str]:
    """Currencies the report's ``currencies`` parameter asked for that its headline does not show."""
    from credit_reports.report.parameter_text import parse_list

    manifest = ReportManifest.from_json(manifest)
    asked = (manifest.parameters or {}).get("currencies")
    if not asked:
        return []
    try:
        codes = [str(c).strip().upper() for c in parse_list(asked, "currencies")]
    except UsageError:  # the report itself validated them; a hand-edited manifest is not ours to judge
        return []
    shown = {str(c).upper() for c in (manifest.headline or {})}
    return [c for c in dict.fromkeys(codes) if c and c not in shown]


def maturity_reasons(manifest: ReportManifest) -> list[str]:
    """The maturity backtest's misses (``maturity.backtest.lines``: a month end's forecast off by more than the
    stated band with the actual outside P10-P90; report/maturity_report.py); none without a maturity block."""
    block = manifest.extra.get("maturity")
    backtest = block.get("backtest") if isinstance(block, Mapping) else None
    lines = backtest.get("lines") if isinstance(backtest, Mapping) else None
    return [str(line) for line in lines or () if line]


def attention_reasons(
    manifest: ReportManifest | Mapping[str, Any], *, outstanding_change_share: float | None = None,
) -> list[str]:
    """Short sentences, one per reason the report needs attention; empty when nothing does."""
    manifest = ReportManifest.from_json(manifest)
    reasons = []
    if manifest.snapshot.complete is False:
        reasons.append("incomplete snapshot (some customers' balances could not be fetched): see The snapshot")
    unexplained = unexplained_differences(manifest)
    for code, amount in sorted(unexplained.items()):
        if amount != 0:
            reasons.append(f"unexplained difference of {format_money(amount, code)} in {code}: see Unexplained items")
    checks = [c for c in (manifest.extra.get("checks") or []) if isinstance(c, Mapping)
              and not (c.get("check") == "roll-forward" and unexplained.get(str(c.get("currency"))))]
    reasons.extend(check_failures(checks))
    journal = manifest.extra.get("journal")
    withheld = journal.get("withheld") if isinstance(journal, Mapping) else None
    for code, why in sorted((withheld or {}).items()):
        reasons.append(f"no journal entries for {code}: {why}; see Journal entries")
    for code in missing_currencies(manifest):
        reasons.append(f"no data in {code}, a requested currency (no customer holds a balance in it)")
    reasons.extend(maturity_reasons(manifest))
    fallback = _fallback(manifest)
    if fallback:
        reasons.append(f"verification fallback ({fallback})")
    if outstanding_change_share is not None:
        for code, (opening, closing) in sorted(outstanding_change(manifest).items()):
            change = closing - opening
            if change == 0:
                continue
            if opening == 0 or abs(change) > outstanding_change_share * abs(opening):
                share = f"{change / opening:+.1%}" if opening else "from zero"
                reasons.append(f"outstanding {code} changed {share} ({format_money(change, code)})")
    return reasons


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
