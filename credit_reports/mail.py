"""Emailing a published report to finance: a short summary in the body, the report (and XLSX) attached.

``credit-reports run`` calls :func:`send_report` for each report it published, when ``credit-reports.toml``
has a ``[mail]`` table (:class:`credit_reports.config.MailSettings`). The message is built from the
report's manifest alone, so the email says exactly what the report and the index say:

- Subject: the report's title and as-of, with ``Attention:`` in front when :mod:`credit_reports.alerts`
  finds a reason (incomplete snapshot, unexplained difference, verification fallback, a large change).
- Body (plain text, read in any mail client): per currency, outstanding credit, its change over the
  period and the unexplained difference when the report reconciles; warnings; where the report lives.
- Attachments: the HTML report and the XLSX workbook, as long as the message stays under
  ``max_message_bytes`` (the workbook is left out first, then the report; the body says so).

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
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from credit_reports import timestamps
from credit_reports.alerts import attention_reasons, outstanding_change, unexplained_differences
from credit_reports.config import MailSettings
from credit_reports.errors import CreditReportsError, UsageError
from credit_reports.money import format_money

__all__ = ["MailError", "build_message", "check_password", "send_message", "send_report", "summary_text"]

log = logging.getLogger("credit_reports.mail")

#: Room kept for headers and MIME framing when deciding what fits under the size limit.
_OVERHEAD_BYTES = 8_000


class MailError(CreditReportsError):
    """The report could not be emailed (it stays published); the message is one line, never a secret."""


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


def subject_for(manifest: Mapping[str, Any], reasons: list[str]) -> str:
    """``[Attention: ]<title>, as of <as-of>[ (<environment>)]``."""
    snapshot = manifest.get("snapshot") or {}
    environment = snapshot.get("environment")
    where = "" if environment == "production" else f" ({environment})"
    title = manifest.get("title") or manifest.get("report") or "Credit balance report"
    prefix = "Attention: " if reasons else ""
    return f"{prefix}{title}, as of {_when(snapshot.get('as_of'))}{where}"


def summary_text(manifest: Mapping[str, Any], reasons: list[str], *, location: str = "", left_out: tuple = ()) -> str:
    """The message body: figures per currency in their own currency, warnings, where the report is."""
    snapshot = manifest.get("snapshot") or {}
    period = manifest.get("period") or {}
    lines = [str(manifest.get("title") or "Credit balance report"), ""]
    lines.append(f"As of {_when(snapshot.get('as_of'))}, {snapshot.get('environment')} "
                 f"(snapshot {snapshot.get('name') or Path(str(snapshot.get('path', ''))).name}).")
    if period.get("from"):
        lines.append(f"Period: {_when(period['from'])} to {_when(period['to'])}.")
    else:
        lines.append("No earlier snapshot, so no change over a period yet.")
    if reasons:
        lines += ["", "Attention:"] + [f"  - {reason}" for reason in reasons]
    changes = outstanding_change(manifest)
    unexplained = unexplained_differences(manifest)
    headline = manifest.get("headline") or {}
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
    if snapshot.get("complete") is False:
        lines += ["", "Warning: the snapshot is incomplete; these totals understate customer credit."]
    if left_out:
        lines += ["", f"Not attached, to keep this message under the size limit: {', '.join(left_out)}."]
    if location:
        lines += ["", f"Published at: {location}"]
    lines += ["", f"Sent by credit-reports {manifest.get('toolkit_version') or ''}".rstrip() + "."]
    return "\n".join(lines) + "\n"


def _attachment(path: Path) -> tuple[bytes, str, str]:
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    main, _, sub = kind.partition("/")
    return path.read_bytes(), main, sub


def build_message(
    manifest: Mapping[str, Any],
    *,
    html: Path,
    xlsx: Path | None,
    settings: MailSettings,
    reasons: list[str],
    location: str = "",
) -> EmailMessage:
    """The email for one report: subject, summary body, attachments that fit under the size limit."""
    candidates = [p for p in (html, xlsx if settings.attach_xlsx else None) if p is not None and p.is_file()]
    budget = settings.max_message_bytes - _OVERHEAD_BYTES
    body_size = len(summary_text(manifest, reasons, location=location).encode()) + 1_000
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
    message = EmailMessage()
    message["Subject"] = subject_for(manifest, reasons)
    message["From"] = settings.sender
    message["To"] = ", ".join(settings.recipients)
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=settings.sender.rsplit("@", 1)[-1].strip("> ") or None)
    message.set_content(summary_text(manifest, reasons, location=location, left_out=tuple(left_out)))
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
    manifest = json.loads(Path(manifest_path).read_text(encoding="utf-8"))
    folder = Path(manifest_path).parent
    name = manifest.get("report") or "credit-balances"
    html = folder / f"{name}.html"
    xlsx = folder / f"{name}.xlsx"
    reasons = list(manifest.get("attention") or attention_reasons(
        manifest, outstanding_change_share=outstanding_change_share))
    if password is None and settings.password_env:
        password = check_password(settings)
    message = build_message(manifest, html=html, xlsx=xlsx if xlsx.is_file() else None, settings=settings,
                            reasons=reasons, location=str(html))
    send_message(message, settings, password=password)
    log.info("emailed %s to %d recipient(s)", name, len(settings.recipients))
    return message


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
