"""Emailing a published report to finance: a summary in the body (HTML, with a plain-text alternative), the
PDF (and XLSX) attached, a link to where the report is served.

``credit-reports run`` calls :func:`send_report` for each report it published, when ``credit-reports.toml``
has a ``[mail]`` table (:class:`credit_reports.delivery.config.MailSettings`). The message is built from the
report's manifest alone, so the email says exactly what the report and the index say:

- Subject: the report's title and as-of, with ``Attention:`` in front when :mod:`credit_reports.report.alerts`
  finds a reason (incomplete snapshot, unexplained difference, verification fallback, a large change).
- Body: an HTML part (a headline table per currency: outstanding credit now and at the opening, the change
  and the unexplained difference; the roll-forward's status; a link to the report) and the same content
  as plain text for clients that show no HTML. The link is the report's address under ``[publish]
  base_url`` (recorded in the manifest as ``url``); without one, the report's path on the server.
- Attachments: the PDF when the report was printed, the HTML report when there is no address to link to,
  and the XLSX workbook, as long as the message stays under ``max_message_bytes`` (the workbook is left
  out first, then the report; the body says so).

SMTP over STARTTLS (port 587) or implicit TLS (``ssl``, port 465); ``none`` only for a relay on loopback.
The password comes from the environment variable named by ``password_env`` only: never from the config
file, and never written to a log line, an error message or the message itself.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import os
import smtplib
import ssl
from collections.abc import Mapping
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from credit_reports.core import timestamps
from credit_reports.core.errors import MailError, UsageError
from credit_reports.core.money import format_money
from credit_reports.delivery.config import MailSettings
from credit_reports.report.alerts import attention_reasons, outstanding_change, unexplained_differences
from credit_reports.store.manifests import ReportManifest

__all__ = [
    "MailError", "build_message", "check_password", "roll_forward_status", "send_message", "send_report",
    "summary_html", "summary_text",
]

log = logging.getLogger("credit_reports.mail")

#: Headers unfolded up to RFC 5322's 998 characters: the default 78 folds a long Subject after "Subject:",
#: leaving an empty first line some clients show as a blank subject.
_POLICY = email_policy.default.clone(max_line_length=998)
#: Room kept for headers and MIME framing when deciding what fits under the size limit.
_OVERHEAD_BYTES = 8_000


def check_password(settings: MailSettings) -> str | None:
    """The SMTP password from its environment variable; a UsageError when a login needs one and it is unset."""
    if settings.username and not settings.password_env:
        raise UsageError("[mail] has a username but no password_env: name the environment variable holding the "
                         "SMTP password")
    if not settings.password_env:
        return None
    password = os.environ.get(settings.password_env)
    if not password:
        raise UsageError(f"[mail] password_env names {settings.password_env}, which is not set: set it in the "
                         "scheduler's secret store")
    return password


def _when(text: str | None) -> str:
    """A manifest's ISO time as the report and the index show it, to the minute, or 'unknown time'."""
    if not text:
        return "unknown time"
    return timestamps.display(str(text), seconds=False)


def subject_for(manifest: ReportManifest | Mapping[str, Any], reasons: list[str]) -> str:
    """``[Attention: ]<title>, as of <as-of>[ (<environment>)]``."""
    manifest = ReportManifest.from_json(manifest)
    environment = manifest.snapshot.environment
    where = "" if environment == "production" else f" ({environment})"
    title = manifest.title or manifest.report or "Credit balance report"
    prefix = "Attention: " if reasons else ""
    return f"{prefix}{title}, as of {_when(manifest.snapshot.as_of)}{where}"


def summary_text(
    manifest: ReportManifest | Mapping[str, Any], reasons: list[str], *, location: str = "", left_out: tuple = (),
) -> str:
    """The message body: figures per currency in their own currency, warnings, where the report is."""
    manifest = ReportManifest.from_json(manifest)
    snapshot = manifest.snapshot
    period = manifest.period or {}
    lines = [_status_line(reasons), ""] + (["Attention:"] + [f"  - {reason}" for reason in reasons] + [""]
                                           if reasons else [])
    lines += [str(manifest.title or "Credit balance report"), ""]
    lines.append(f"As of {_when(snapshot.as_of)}, {snapshot.environment} "
                 f"(snapshot {snapshot.name or Path(str(snapshot.path or '')).name}).")
    if period.get("from"):
        lines.append(f"Period: {_when(period['from'])} to {_when(period['to'])}.")
    else:
        lines.append("No earlier snapshot, so no change over a period yet.")
    changes = outstanding_change(manifest)
    unexplained = unexplained_differences(manifest)
    headline = manifest.headline or {}
    lines += ["", "Outstanding credit (available + reserved), per currency:"]
    for code in sorted(headline):
        figures = headline[code] or {}
        if "outstanding" not in figures:
            continue
        parts = [f"  {code}: {format_money(int(figures['outstanding']), code)}"]
        if code in changes:
            opening, closing = changes[code]
            parts.append(f"change {format_money(closing - opening, code)}")
        if code in unexplained:
            parts.append(f"unexplained difference {format_money(unexplained[code], code)}")
        lines.append(", ".join(parts))
    if snapshot.complete is False:
        lines += ["", "Warning: the snapshot is incomplete; these totals understate customer credit."]
    if left_out:
        lines += ["", f"Not attached, to keep this message under the size limit: {', '.join(left_out)}."]
    status = roll_forward_status(manifest)
    if status:
        lines += ["", f"Roll-forward: {status}"]
    url = manifest.url
    if url:
        lines += ["", f"Open the report: {url}"]
    elif location:
        lines += ["", f"Report on the reporting server (no [publish] base_url set): {location}"]
    lines += ["", f"Sent by credit-reports {manifest.toolkit_version or ''}".rstrip() + "."]
    return "\n".join(lines) + "\n"


def _status_line(reasons: list[str]) -> str:
    """The pack's status as the email's first line (report/status.py decides the words)."""
    from credit_reports.report.status import status_line

    return status_line(reasons)


def roll_forward_status(manifest: ReportManifest | Mapping[str, Any]) -> str:
    """The roll-forward in one sentence: reconciled, not reconciled, derived from balances, or none."""
    roll = ReportManifest.from_json(manifest).roll_forward or {}
    if not roll:
        return "none (no opening snapshot)"
    if not all((figures or {}).get("evidence") for figures in roll.values()):
        return "derived from balances, no event evidence (not a reconciliation)"
    manifest = ReportManifest.from_json(manifest)
    off = sorted(code for code, figures in roll.items() if (figures or {}).get("unexplained"))
    if off:
        return f"DOES NOT RECONCILE in {', '.join(off)}: see the report's unexplained items"
    failed = [c for c in (manifest.extra.get("checks") or []) if isinstance(c, Mapping) and c.get("passed") is False
              and c.get("check") in ("roll-forward", "used", "reserved", "closing vs headline")]
    if failed:
        which = ", ".join(f"{c.get('check')} in {c.get('currency')}" for c in failed)
        return f"DOES NOT RECONCILE: {which} check off; see the report's roll-forward checks"
    return "reconciled against Paddle events: no unexplained difference in any currency"


def summary_html(
    manifest: ReportManifest | Mapping[str, Any], reasons: list[str], *, location: str = "", left_out: tuple = (),
) -> str:
    """The HTML body: title, as-of and period, attention reasons, the headline table, status, link."""
    from html import escape

    manifest = ReportManifest.from_json(manifest)
    snapshot = manifest.snapshot
    period = manifest.period or {}
    title = escape(str(manifest.title or "Credit balance report"))
    cell = 'style="padding:4px 10px;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap"'
    head = 'style="padding:4px 10px;border-bottom:1px solid #888;text-align:right"'
    changes, unexplained = outstanding_change(manifest), unexplained_differences(manifest)
    rows = []
    for code in sorted(manifest.headline or {}):
        figures = (manifest.headline or {})[code] or {}
        if "outstanding" not in figures:
            continue
        opening = format_money(changes[code][0], code) if code in changes else ""
        change = format_money(changes[code][1] - changes[code][0], code) if code in changes else ""
        diff = format_money(unexplained[code], code) if code in unexplained else ""
        rows.append(f'<tr><td {cell.replace("right", "left")}>{escape(code)}</td>'
                    f"<td {cell}>{escape(format_money(int(figures['outstanding']), code))}</td>"
                    f"<td {cell}>{escape(opening)}</td><td {cell}>{escape(change)}</td><td {cell}>{escape(diff)}</td>"
                    "</tr>")
    when = f"As of {escape(_when(snapshot.as_of))}, {escape(str(snapshot.environment))}"
    if period.get("from"):
        when += f"; period {escape(_when(period['from']))} to {escape(_when(period['to']))}"
    parts = ['<div style="font-family:system-ui,Segoe UI,Helvetica,Arial,sans-serif;color:#111;max-width:720px">']
    if reasons:  # the status first: what to resolve before signing, and where to look
        items = "".join(f"<li>{escape(r)}</li>" for r in reasons)
        parts.append(f'<div style="background:#b00020;color:#fff;padding:8px 12px;border-radius:4px;margin:0 0 12px">'
                     f"<strong>Attention:</strong><ul style=\"margin:4px 0\">{items}</ul></div>")
    else:
        parts.append('<div style="background:#e7f4ea;color:#1b4d20;border:1px solid #2e7d32;padding:8px 12px;'
                     f'border-radius:4px;margin:0 0 12px"><strong>{escape(_status_line(reasons))}.</strong></div>')
    parts.append(f'<h2 style="margin:0 0 4px">{title}</h2><p style="margin:0 0 12px;color:#444">{when}.</p>')
    heads = f'<th {head.replace("right", "left")}>Currency</th>' + "".join(
        f"<th {head}>{h}</th>" for h in ("Outstanding", "At opening", "Change", "Unexplained"))
    parts.append(f'<table style="border-collapse:collapse;font-size:14px;margin:8px 0"><thead><tr>{heads}</tr>'
                 f"</thead><tbody>{''.join(rows)}</tbody></table>")
    parts.append(f"<p><strong>Roll-forward:</strong> {escape(roll_forward_status(manifest))}.</p>")
    if snapshot.complete is False:
        parts.append("<p><strong>Warning:</strong> the snapshot is incomplete; these totals understate credit.</p>")
    if left_out:
        parts.append(f"<p>Not attached, to keep this message under the size limit: {escape(', '.join(left_out))}.</p>")
    url = manifest.url
    if url:
        parts.append(f'<p><a href="{escape(str(url), quote=True)}" style="display:inline-block;background:#0b5cad;'
                     f'color:#fff;padding:8px 14px;border-radius:4px;text-decoration:none">Open the report</a>'
                     f'<br><span style="color:#555;font-size:12px">{escape(str(url))}</span></p>')
    elif location:
        parts.append(f"<p>Report on the reporting server (no [publish] base_url set): {escape(location)}</p>")
    parts.append(f'<p style="color:#666;font-size:12px">Sent by credit-reports '
                 f"{escape(str(manifest.toolkit_version or ''))}.</p></div>")
    return ('<!doctype html><html><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{title}</title></head><body>" + "".join(parts) + "</body></html>")


def _attachment(path: Path) -> tuple[bytes, str, str]:
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    main, _, sub = kind.partition("/")
    return path.read_bytes(), main, sub


def build_message(
    manifest: ReportManifest | Mapping[str, Any],
    *,
    html: Path,
    xlsx: Path | None,
    settings: MailSettings,
    reasons: list[str],
    location: str = "",
    pdf: Path | None = None,
) -> EmailMessage:
    """The email for one report: subject, HTML and plain-text body, attachments that fit under the size limit
    (the PDF when there is one, the HTML report when there is no address to link to, the workbook)."""
    manifest = ReportManifest.from_json(manifest)
    report_html = None if manifest.url else html
    candidates = [p for p in (pdf, report_html, xlsx if settings.attach_xlsx else None)
                  if p is not None and p.is_file()]
    budget = settings.max_message_bytes - _OVERHEAD_BYTES
    body_size = (len(summary_text(manifest, reasons, location=location).encode())
                 + len(summary_html(manifest, reasons, location=location).encode()) * 2 + 1_000)
    attached: list[Path] = []
    left_out: list[str] = []
    used = body_size
    for path in candidates:  # the report first: it matters more than the workbook
        encoded = (path.stat().st_size * 4) // 3 + 1_000  # base64 plus MIME headers
        if used + encoded <= budget:
            attached.append(path)
            used += encoded
        else:
            left_out.append(path.name)
    message = EmailMessage(policy=_POLICY)
    message["Subject"] = subject_for(manifest, reasons)
    message["From"] = settings.sender
    message["To"] = ", ".join(settings.recipients)
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=settings.sender.rsplit("@", 1)[-1].strip("> ") or None)
    message.set_content(summary_text(manifest, reasons, location=location, left_out=tuple(left_out)))
    message.add_alternative(summary_html(manifest, reasons, location=location, left_out=tuple(left_out)),
                            subtype="html")
    for path in attached:
        data, main, sub = _attachment(path)
        if main == "text":  # the report: UTF-8 text, sent base64 so it arrives byte for byte
            message.add_attachment(data.decode("utf-8"), subtype=sub, charset="utf-8", cte="base64",
                                   filename=path.name)
        else:
            message.add_attachment(data, maintype=main, subtype=sub, filename=path.name)
    return message


def _redacted(text: str, password: str | None) -> str:
    return text.replace(password, "[redacted]") if password else text


def send_message(message: EmailMessage, settings: MailSettings, *, password: str | None = None) -> None:
    """Deliver ``message`` over SMTP as configured; MailError (one line, no secret) when it cannot."""
    context = ssl.create_default_context(cafile=settings.ca_file) if settings.security != "none" else None
    try:
        if settings.security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout_seconds, context=context
            )
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_seconds)
        with client:
            client.ehlo()
            if settings.security == "starttls":
                client.starttls(context=context)
                client.ehlo()
            if settings.username:
                client.login(settings.username, password or "")
            refused = client.send_message(message, from_addr=_address(settings.sender),
                                          to_addrs=list(settings.recipients))
    except smtplib.SMTPAuthenticationError as exc:
        raise MailError(f"the SMTP server {settings.host} refused the login ({exc.smtp_code}); check username "
                        f"and {settings.password_env}") from None
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        detail = _redacted(" ".join(str(exc).split()), password)[:200] or type(exc).__name__
        raise MailError(f"cannot send through {settings.host}:{settings.port} ({detail})") from None
    if refused:
        raise MailError(f"the SMTP server refused recipient(s) {', '.join(sorted(refused))}")


def _address(sender: str) -> str:
    """The bare address of ``Name <address>``."""
    from email.utils import parseaddr

    return parseaddr(sender)[1] or sender


def send_report(
    manifest_path: Path,
    settings: MailSettings,
    *,
    outstanding_change_share: float | None = None,
    password: str | None = None,
) -> EmailMessage:
    """Email one published report (found from its manifest); return the message sent. Raises MailError."""
    manifest = ReportManifest.from_json(json.loads(Path(manifest_path).read_text(encoding="utf-8")))
    folder = Path(manifest_path).parent
    name = manifest.report or "credit-balances"
    html = folder / f"{name}.html"
    xlsx = folder / f"{name}.xlsx"
    pdf = folder / f"{name}.pdf"
    reasons = list(manifest.attention or attention_reasons(
        manifest, outstanding_change_share=outstanding_change_share))
    if password is None and settings.password_env:
        password = check_password(settings)
    message = build_message(manifest, html=html, xlsx=xlsx if xlsx.is_file() else None, settings=settings,
                            reasons=reasons, location=str(html), pdf=pdf if pdf.is_file() else None)
    send_message(message, settings, password=password)
    log.info("emailed %s to %d recipient(s)", name, len(settings.recipients))
    return message


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
