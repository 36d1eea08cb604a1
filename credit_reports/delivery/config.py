"""The scheduler's config file, ``credit-reports.toml``: which reports ``run`` renders.

A team keeps several reports from one fetch (by plan, by signup quarter, one per currency)::

    [[report]]
    name = "credit-balances-by-plan"      # output file name (without .html)
    notebook = "credit_balances"          # a notebook in notebooks/, or a path
    [report.parameters]
    cohort = "custom_data.plan"

Without a config file, ``run`` renders the default report alone. A report may set ``pdf = true`` (a PDF
beside its HTML, printed by headless Chromium). The same file holds the delivery settings::

    [exports]
    csv_bom = true                        # CSVs start with a UTF-8 byte-order mark (Excel reads accents)

    [mail]                                # `run` emails every published report
    host = "smtp.example.com"
    port = 587
    security = "starttls"                 # starttls | ssl | none (none: loopback relays only)
    username = "reports@example.com"
    password_env = "CREDIT_REPORTS_SMTP_PASSWORD"   # the NAME of the variable; never the password
    sender = "Credit reports <reports@example.com>"
    recipients = ["finance@example.com"]
    max_message_bytes = 10_000_000        # attachments that would exceed it are left out (and said so)
    attach_xlsx = true

    [alerts]                              # "Attention:" in the subject and in the index
    outstanding_change_share = 0.25       # outstanding moving more than 25% in a currency over the period

    [publish]
    base_url = "https://reports.example.com/credit"   # where reports/ is served: the email and index link there

    [paddle]
    account = "ctm_01h8441jn5pcwrfhwh78jqt8hk"   # the account the key must read (a manifest's account.identity)

    [close]                               # the month-end close pack
    entity = "Example GmbH"               # the account named in the PDF's running header and the workbook
    prepared_by = "A. Preparer"           # the sign-off block's names
    reviewed_by = "B. Reviewer"
    [close.accounts]                      # the journal entries' general-ledger accounts
    liability = "2400 Customer credit balances"
    issued = "4090 Proration credit granted"
    reversed = "4090 Proration credit granted"
    used = "1200 Accounts receivable"
    translation = "7950 FX translation differences"
    gl_file = "gl-balances.csv"           # the GL tie-out (or [[close.gl]] tables, below); relative to where
                                          # you run the command, like every relative path
    [[close.gl]]                          # the liability's GL balance at the end of a day, per currency
    date = 2026-11-30                     # the closing day (the report's time zone)
    currency = "USD"
    balance = "12345.67"                  # major units, as the ledger shows the credit balance
    account = "2400 Customer credit balances"   # default: [close.accounts] liability
    [[close.reconciling_items]]           # what explains a GL difference, per day and currency
    date = 2026-11-30
    currency = "USD"
    amount = "-12.00"                     # added to the GL balance before it is compared
    description = "JE-1123 posted after the cut-off"

A GL CSV has the columns ``date,currency,kind,amount,account,description`` (``kind``: ``balance`` or
``reconciling``; ``account`` and ``description`` may be empty).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from credit_reports.core.errors import UsageError
from credit_reports.figures.journal import Accounts

DEFAULT_CONFIG_NAME = "credit-reports.toml"
DEFAULT_NOTEBOOK = "credit_balances"
DEFAULT_REPORT_NAME = "credit-balances"
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_REPORT_KEYS = {"name", "notebook", "parameters", "pdf"}
_TOP_KEYS = {"report", "exports", "mail", "alerts", "publish", "close", "paddle"}
_ACCOUNT_KEYS = ("liability", "issued", "reversed", "used", "translation")
_MAIL_SECURITY = ("starttls", "ssl", "none")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class ReportSpec:
    """One report to render: the notebook, its parameters and the output file name."""

    name: str = DEFAULT_REPORT_NAME
    notebook: str = DEFAULT_NOTEBOOK
    parameters: dict[str, Any] = field(default_factory=dict)
    pdf: bool = False


@dataclass(frozen=True)
class ExportSettings:
    """How exports are written: ``csv_bom`` starts each CSV with a UTF-8 BOM so Excel reads it as UTF-8."""

    csv_bom: bool = False


@dataclass(frozen=True)
class MailSettings:
    """Where and how ``run`` emails each published report. The password is read from ``password_env``."""

    host: str
    sender: str
    recipients: tuple[str, ...]
    port: int = 587
    security: str = "starttls"
    username: str | None = None
    password_env: str | None = None
    max_message_bytes: int = 10_000_000
    attach_xlsx: bool = True
    timeout_seconds: float = 30.0
    ca_file: str | None = None


@dataclass(frozen=True)
class AlertSettings:
    """What puts "Attention:" in a report's subject and index row (incomplete, unexplained and fallback
    always do; a change of outstanding credit above ``outstanding_change_share`` when it is set)."""

    outstanding_change_share: float | None = None


@dataclass(frozen=True)
class PublishSettings:
    """Where ``reports/`` is served (``base_url``): the email and the index link to the report there."""

    base_url: str | None = None

    def url_for(self, relative: str) -> str | None:
        """The served address of a file given relative to ``reports/`` (None without a base URL)."""
        if not self.base_url:
            return None
        return self.base_url.rstrip("/") + "/" + relative.lstrip("/")


@dataclass(frozen=True)
class CloseSettings:
    """The close pack: who prepares and reviews it, the entity named on every page, the GL accounts."""

    entity: str | None = None
    prepared_by: str | None = None
    reviewed_by: str | None = None
    accounts: Accounts = field(default_factory=Accounts)
    accounts_configured: bool = False
    #: GL balances and reconciling items of the tie-out (:class:`GlLine`): [[close.gl]],
    #: [[close.reconciling_items]] and ``gl_file``
    gl: tuple[GlLine, ...] = ()


@dataclass(frozen=True)
class GlLine:
    """One line of the GL tie-out: the liability's balance in the general ledger at the end of ``date``, or a
    reconciling item (``kind`` "reconciling"), in minor units of ``currency``."""

    date: dt.date
    currency: str
    kind: str  # "balance" or "reconciling"
    amount: int
    account: str = ""  # empty: the liability account of [close.accounts]
    description: str = ""


@dataclass(frozen=True)
class Settings:
    """Everything ``credit-reports.toml`` configures."""

    reports: list[ReportSpec] = field(default_factory=lambda: default_reports())
    exports: ExportSettings = field(default_factory=ExportSettings)
    mail: MailSettings | None = None
    alerts: AlertSettings = field(default_factory=AlertSettings)
    publish: PublishSettings = field(default_factory=PublishSettings)
    close: CloseSettings = field(default_factory=CloseSettings)
    #: ``[paddle] account``: the identity of the account the key must read (its oldest customer's id, as every
    #: snapshot manifest records it); ``run`` refuses another account before fetching. None: not pinned.
    paddle_account: str | None = None


def absolute_file_parameters(parameters: dict[str, Any], base: Path | None = None) -> dict[str, Any]:
    """``parameters`` with every file parameter (a report parameter named ``*_file``: ``rates_file``,
    ``cohort_file``) made absolute from ``base`` (default: where the command runs): the one rule for a relative
    path, so the pre-check, the kernel (which runs in ``notebooks/``) and the render read the same file."""
    from credit_reports.report.parameters import parameter_names

    names = {n for n in parameter_names() if n.endswith("_file")}
    where = Path(base) if base is not None else Path.cwd()
    changed = {name: str((where / Path(value).expanduser()).resolve()) for name, value in parameters.items()
               if name in names and isinstance(value, str) and value.strip()
               and not Path(value).expanduser().is_absolute()}
    return {**parameters, **changed} if changed else parameters


def default_reports() -> list[ReportSpec]:
    """The report rendered when no config file exists: the credit balances report, defaults only."""
    return [ReportSpec()]


def find_config(explicit: str | Path | None) -> Path | None:
    """The config file to use: the one named, else ``./credit-reports.toml`` when present, else None."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise UsageError(f"config file {path} does not exist: check the --config path")
        return path
    candidate = Path.cwd() / DEFAULT_CONFIG_NAME
    return candidate if candidate.is_file() else None


def load_reports(path: str | Path | None) -> list[ReportSpec]:
    """Read the ``[[report]]`` tables of a config file; no file means the default report.

    Every problem is a UsageError naming the file and the report, so a scheduler's log says what to fix.
    """
    return load_settings(path).reports


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config file {path} is not valid TOML ({exc}): fix the syntax") from None


def load_settings(path: str | Path | None) -> Settings:
    """The whole config file: reports, export, mail and alert settings; no file means the defaults."""
    if path is None:
        return Settings()
    path = Path(path)
    data = _read(path)
    reports = _reports(path, data)
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise UsageError(
            f"config file {path}: unknown table(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_TOP_KEYS))}"
        )
    return Settings(
        reports=reports,
        exports=_exports(path, data.get("exports", {})),
        mail=_mail(path, data["mail"]) if "mail" in data else None,
        alerts=_alerts(path, data.get("alerts", {})),
        publish=_publish(path, data.get("publish", {})),
        paddle_account=_paddle_account(path, data.get("paddle", {})),
        close=_close(path, data.get("close", {})),
    )


def _paddle_account(path: Path, value: Any) -> str | None:
    """``[paddle] account``: the account identity a key must read (``ctm_...``, from a snapshot's manifest)."""
    table = _table(path, "paddle", value, {"account"})
    account = table.get("account")
    if account is None:
        return None
    if not isinstance(account, str) or not re.match(r"^ctm_[a-z0-9]{26}$", account.strip()):
        raise UsageError(f"config file {path}, [paddle]: account must be the account's identity as a snapshot's "
                         "manifest records it (account.identity, e.g. \"ctm_01h8441jn5pcwrfhwh78jqt8hk\")")
    return account.strip()


def _publish(path: Path, value: Any) -> PublishSettings:
    """``[publish]``: ``base_url``, an http(s) address without a query (it is printed in every email)."""
    table = _table(path, "publish", value, {"base_url"})
    url = table.get("base_url")
    if url is None:
        return PublishSettings()
    if not isinstance(url, str) or not re.match(r"^https?://[^\s?#]+$", url.strip()):
        raise UsageError(f"config file {path}, [publish]: base_url must be an http(s) address such as "
                         "https://reports.example.com/credit (no query string)")
    return PublishSettings(base_url=url.strip().rstrip("/"))


def _close(path: Path, value: Any) -> CloseSettings:
    """``[close]``: entity, prepared_by, reviewed_by (text) and ``[close.accounts]`` (account names)."""
    table = _table(path, "close", value, {"entity", "prepared_by", "reviewed_by", "accounts", "gl", "gl_file",
                                          "reconciling_items"})
    texts: dict[str, str | None] = {}
    for key in ("entity", "prepared_by", "reviewed_by"):
        text = table.get(key)
        if text is not None and (not isinstance(text, str) or not text.strip()):
            raise UsageError(f"config file {path}, [close]: {key} must be text, e.g. {key} = \"A. Name\"")
        texts[key] = text.strip() if isinstance(text, str) else None
    accounts = _table(path, "close.accounts", table.get("accounts", {}), set(_ACCOUNT_KEYS))
    for key, text in accounts.items():
        if not isinstance(text, str) or not text.strip():
            raise UsageError(f"config file {path}, [close.accounts]: {key} must be an account name or number "
                             "as text, e.g. \"2400 Customer credit\"")
    chosen = Accounts(**{k: v.strip() for k, v in accounts.items()})
    return CloseSettings(**texts, accounts=chosen, accounts_configured=bool(accounts), gl=_gl(path, table))


def _gl(path: Path, table: dict[str, Any]) -> tuple[GlLine, ...]:
    """The GL tie-out's lines: ``[[close.gl]]`` balances, ``[[close.reconciling_items]]`` and ``gl_file``."""
    lines: list[GlLine] = []
    for key, kind, amount_key in (("gl", "balance", "balance"), ("reconciling_items", "reconciling", "amount")):
        items = table.get(key, [])
        if not isinstance(items, list):
            raise UsageError(f"config file {path}, [close]: {key} must be an array of tables ([[close.{key}]])")
        for i, item in enumerate(items, start=1):
            where = f"config file {path}, [[close.{key}]] number {i}"
            item = _table(path, f"close.{key}", item, {"date", "currency", amount_key, "account", "description"})
            lines.append(_gl_line(where, item.get("date"), item.get("currency"), kind, item.get(amount_key),
                                  item.get("account"), item.get("description")))
    gl_file = table.get("gl_file")
    if gl_file is not None:
        if not isinstance(gl_file, str) or not gl_file.strip():
            raise UsageError(f"config file {path}, [close]: gl_file must be a path to a CSV")
        lines.extend(read_gl_file(Path(gl_file.strip()).expanduser()))
    return tuple(lines)


def read_gl_file(csv_path: Path) -> list[GlLine]:
    """The lines of a GL CSV (``date,currency,kind,amount,account,description``); one UsageError line for a
    missing file or a bad row. A relative path is relative to where the command runs."""
    try:
        with csv_path.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise UsageError(f"[close] gl_file {csv_path}: cannot be read ({exc.strerror or exc})") from None
    need = {"date", "currency", "kind", "amount"}
    if rows and not need <= set(rows[0]):
        raise UsageError(f"[close] gl_file {csv_path}: needs the columns {', '.join(sorted(need))}")
    out = []
    for n, row in enumerate(rows, start=2):
        kind = (row.get("kind") or "").strip().lower()
        if kind not in ("balance", "reconciling"):
            raise UsageError(f"[close] gl_file {csv_path}, line {n}: kind must be balance or reconciling")
        out.append(_gl_line(f"[close] gl_file {csv_path}, line {n}", row.get("date"), row.get("currency"), kind,
                            row.get("amount"), row.get("account"), row.get("description")))
    return out


def _gl_line(where: str, date: Any, currency: Any, kind: str, amount: Any, account: Any, description: Any) -> GlLine:
    """One checked GL line: a calendar date, a currency Paddle supports, an amount in major units."""
    from decimal import Decimal, InvalidOperation

    from credit_reports.core.money import check_currency, minor_unit_decimals

    if isinstance(date, str):
        try:
            date = dt.date.fromisoformat(date.strip())
        except ValueError:
            date = None
    if not isinstance(date, dt.date) or isinstance(date, dt.datetime):
        raise UsageError(f"{where}: date must be a day such as 2026-11-30")
    code = check_currency(currency, f"{where}: currency").upper()
    try:
        major = Decimal(str(amount).replace(",", "").strip())
    except (InvalidOperation, ValueError):
        raise UsageError(f"{where}: amount {amount!r} is not a number such as \"12345.67\"") from None
    minor = major.scaleb(int(minor_unit_decimals(code) or 0))
    if minor != minor.to_integral_value():
        raise UsageError(f"{where}: {amount} has more decimals than {code} has")
    return GlLine(date=date, currency=code, kind=kind, amount=int(minor),
                  account=str(account or "").strip(), description=str(description or "").strip())


def _table(path: Path, name: str, value: Any, allowed: set[str]) -> dict[str, Any]:
    """A ``[name]`` table checked for unknown keys."""
    if not isinstance(value, dict):
        raise UsageError(f"config file {path}: [{name}] must be a table")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise UsageError(
            f"config file {path}, [{name}]: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )
    return value


def _exports(path: Path, value: Any) -> ExportSettings:
    table = _table(path, "exports", value, {"csv_bom"})
    bom = table.get("csv_bom", False)
    if not isinstance(bom, bool):
        raise UsageError(f"config file {path}, [exports]: csv_bom must be true or false")
    return ExportSettings(csv_bom=bom)


def _mail(path: Path, value: Any) -> MailSettings:
    """The ``[mail]`` table; a password written in the file is refused (it belongs in an env variable)."""
    where = f"config file {path}, [mail]"
    if isinstance(value, dict) and any(k.lower() in {"password", "pass", "secret"} for k in value):
        raise UsageError(
            f"{where}: never write the SMTP password in the file; name an environment variable with password_env"
        )
    allowed = {f for f in MailSettings.__dataclass_fields__}
    table = _table(path, "mail", value, allowed)
    for key in ("host", "sender"):
        if not isinstance(table.get(key), str) or not table[key].strip():
            raise UsageError(f"{where}: {key} is required (text)")
    recipients = table.get("recipients")
    if isinstance(recipients, str):
        recipients = [recipients]
    if not isinstance(recipients, list) or not recipients or not all(
        isinstance(r, str) and "@" in r for r in recipients
    ):
        raise UsageError(f"{where}: recipients must be a list of email addresses")
    security = table.get("security", "starttls")
    if security not in _MAIL_SECURITY:
        raise UsageError(f"{where}: security must be one of {', '.join(_MAIL_SECURITY)}, got {security!r}")
    port = table.get("port", 465 if security == "ssl" else 587)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise UsageError(f"{where}: port must be a number from 1 to 65535")
    password_env = table.get("password_env")
    if password_env is not None and (not isinstance(password_env, str) or not _ENV_NAME.match(password_env)):
        raise UsageError(f"{where}: password_env must be the name of an environment variable, e.g. SMTP_PASSWORD")
    limit = table.get("max_message_bytes", 10_000_000)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 10_000:
        raise UsageError(f"{where}: max_message_bytes must be a whole number of bytes, at least 10000")
    attach = table.get("attach_xlsx", True)
    if not isinstance(attach, bool):
        raise UsageError(f"{where}: attach_xlsx must be true or false")
    timeout = table.get("timeout_seconds", 30.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise UsageError(f"{where}: timeout_seconds must be a number above zero")
    username = table.get("username")
    if username is not None and not isinstance(username, str):
        raise UsageError(f"{where}: username must be text")
    ca_file = table.get("ca_file")
    if ca_file is not None and not Path(ca_file).is_file():
        raise UsageError(f"{where}: ca_file {ca_file!r} does not exist")
    return MailSettings(
        host=table["host"].strip(), sender=table["sender"].strip(), recipients=tuple(recipients), port=port,
        security=security, username=username, password_env=password_env, max_message_bytes=limit,
        attach_xlsx=attach, timeout_seconds=float(timeout), ca_file=ca_file,
    )


def _alerts(path: Path, value: Any) -> AlertSettings:
    table = _table(path, "alerts", value, {"outstanding_change_share"})
    share = table.get("outstanding_change_share")
    if share is not None and (isinstance(share, bool) or not isinstance(share, int | float) or share <= 0):
        raise UsageError(
            f"config file {path}, [alerts]: outstanding_change_share must be a share above zero, e.g. 0.25 for 25%"
        )
    return AlertSettings(outstanding_change_share=float(share) if share is not None else None)


def _reports(path: Path, data: dict[str, Any]) -> list[ReportSpec]:
    """The ``[[report]]`` tables, validated; names unique."""
    tables = data.get("report")
    if not isinstance(tables, list) or not tables:
        raise UsageError(f"config file {path} lists no [[report]] tables: add at least one")
    reports = [_report_from_table(path, index, table) for index, table in enumerate(tables, start=1)]
    names = [report.name for report in reports]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise UsageError(f"config file {path}: report names must be unique, repeated: {', '.join(duplicates)}")
    return reports


def _report_from_table(path: Path, index: int, table: Any) -> ReportSpec:
    """Validate one ``[[report]]`` table and turn it into a ReportSpec."""
    where = f"config file {path}, report {index}"
    if not isinstance(table, dict):
        raise UsageError(f"{where}: expected a table of name, notebook and parameters")
    unknown = sorted(set(table) - _REPORT_KEYS)
    if unknown:
        raise UsageError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: name, notebook, parameters, pdf")
    name = table.get("name", DEFAULT_REPORT_NAME)
    if not isinstance(name, str) or not _NAME_PATTERN.match(name):
        raise UsageError(f"{where}: name {name!r} must be letters, digits, '.', '_' or '-' (it names a file)")
    notebook = table.get("notebook", DEFAULT_NOTEBOOK)
    if not isinstance(notebook, str) or not notebook:
        raise UsageError(f"{where}: notebook must be a notebook name or path")
    parameters = table.get("parameters", {})
    if not isinstance(parameters, dict):
        raise UsageError(f"{where}: parameters must be a table of name = value")
    pdf = table.get("pdf", False)
    if not isinstance(pdf, bool):
        raise UsageError(f"{where}: pdf must be true or false")
    return ReportSpec(name=name, notebook=notebook, parameters=dict(parameters), pdf=pdf)
