"""The toolkit's exceptions: one small hierarchy, modelled on stripe-python's and openai-python's.

Everything raised on purpose derives from :class:`CreditReportsError`. Errors from the Paddle API derive
from :class:`PaddleError` and carry the HTTP status, Paddle's ``code``, ``detail``, ``documentation_url``,
field ``errors`` and ``request_id``, with one subclass per thing a caller acts on differently
(authentication, permission, not found, rate limited, server, no usable response).

``str(error)`` is one readable line saying what happened and what to do; the CLI prints it as is and exits
with the error's ``exit_code`` (a class attribute: the table in README.md and cli.py, decided here once).
No message, repr or attribute ever holds the API key: errors are built from the response only, and every
message and ``detail`` goes through :func:`credit_reports.core.redact.redact` (the key, Authorization values and
URL query secrets), so a server that echoes the key back cannot put it into a message.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from credit_reports.core.redact import install_log_redaction, redact
from credit_reports.core.retries import parse_retry_after

install_log_redaction()  # every module imports this one: each credit_reports.* log line is redacted

__all__ = [
    "EXIT_OK",
    "EXIT_REPORT_FAILED",
    "EXIT_USAGE",
    "EXIT_INCOMPLETE",
    "EXIT_LOCKED",
    "EXIT_PADDLE",
    "EXIT_MAIL_FAILED",
    "EXIT_ATTENTION",
    "CreditReportsError",
    "UsageError",
    "IncompleteSnapshotError",
    "TotalOverflowError",
    "StoreError",
    "MissingRateError",
    "DiskFullError",
    "RunLockedError",
    "StoreLockedError",
    "MalformedDataError",
    "ReportFailedError",
    "SecretLeakError",
    "Finding",
    "MailError",
    "PdfUnavailableError",
    "PaddleError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "RateLimitError",
    "ServerError",
    "APIConnectionError",
    "error_from_response",
    "AUTHENTICATION_CODES",
    "READ_PERMISSIONS",
    "read_permissions_text",
]

#: 403 codes that mean "who are you?" rather than "you may not": the key is missing, malformed or refused.
AUTHENTICATION_CODES = frozenset(
    {"authentication_missing", "authentication_malformed", "invalid_token", "invalid_api_key"}
)

_EXCERPT_CHARS = 160

# The exit codes of the command line (README.md "Exit codes"); each error class names its own below.
EXIT_OK = 0
#: A report failed (the last good one stays published), or an unexpected error.
EXIT_REPORT_FAILED = 1
#: Bad input: an argument, the environment, a parameter, a key Paddle refuses, an unusable store.
EXIT_USAGE = 2
#: The snapshot is incomplete (some customers failed), or ``snapshots --check`` found an unusable one.
EXIT_INCOMPLETE = 3
#: Another run or fetch holds the lock; nothing was done.
EXIT_LOCKED = 4
#: Paddle unreachable or failing after the retries: the scheduler should retry later.
EXIT_PADDLE = 5
#: The report is published but the email could not be sent.
EXIT_MAIL_FAILED = 6
#: Every report was published, but one needs attention (a failed check, an unexplained difference, ...).
EXIT_ATTENTION = 7


class CreditReportsError(Exception):
    """Base of every exception the toolkit raises on purpose; its message is always redacted.

    ``exit_code`` is what the CLI exits with when this error ends a command (1 unless a subclass says).
    """

    exit_code: int = EXIT_REPORT_FAILED

    def __str__(self) -> str:
        return redact(super().__str__())


class UsageError(CreditReportsError):
    """Bad input from the user (argument, environment variable, parameter): the CLI prints it, exit 2."""

    exit_code = EXIT_USAGE


class IncompleteSnapshotError(CreditReportsError):
    """A snapshot is missing data (failed customers) where a complete one is required."""

    exit_code = EXIT_INCOMPLETE


class TotalOverflowError(UsageError):
    """A total (per currency) does not fit in int64: no figure is published; ``currency`` names it.

    Exit 2 like other input that cannot be used: the data Paddle sent cannot be totalled exactly.
    """

    def __init__(self, currency: str, column: str, total: int) -> None:
        self.currency = currency
        self.column = column
        self.total = total
        super().__init__(
            f"the {currency} total of {column} ({total} minor units) does not fit in 64 bits, so it cannot "
            f"be reported exactly; check the {currency} balances Paddle returned (nothing was published)"
        )


class StoreError(UsageError):
    """The snapshot store cannot be used as found (a corrupt snapshot asked for by name, a full disk)."""


class DiskFullError(StoreError):
    """The disk is full while writing ``path``: one line naming it and the folder to clear (exit 2).

    Nothing was published (a render stages outside ``reports/`` and publishes by one rename), so the last
    good report stays in place; the line never talks about fetching.
    """

    def __init__(self, path: Any, clear: Any) -> None:
        self.path = None if path is None else str(path)
        self.clear = str(clear)
        where = f"writing {self.path}" if self.path else "writing the report"
        super().__init__(
            f"the disk is full ({where}): nothing was published and the last good report stays in place; free "
            f"space on the disk of {self.clear} (e.g. remove earlier versions, the <period>.vN folders there), "
            "then render again"
        )


class MissingRateError(UsageError):
    """A currency to convert has no rate in the rates file; ``.currencies`` lists them (exit 2)."""

    def __init__(self, currencies: list[str], reporting_currency: str):
        self.currencies = list(currencies)
        self.reporting_currency = reporting_currency
        names = ", ".join(self.currencies)
        super().__init__(
            f"no exchange rate to {reporting_currency} for {names} in the rates file; add a line "
            f"'<currency>,<rate>,<date>,<source>' for each (rate = {reporting_currency} per 1 unit)"
        )


class RunLockedError(CreditReportsError):
    """Another ``credit-reports run`` is working on the same data folder (exit 4: nothing was done)."""

    exit_code = EXIT_LOCKED


class StoreLockedError(RunLockedError, UsageError):
    """Another fetch (or history) is writing the same environment of the store: exit 4, as README promises for
    every lock collision; nothing was done. Still a UsageError for callers that catch those."""

    exit_code = EXIT_LOCKED


class MalformedDataError(CreditReportsError, ValueError):
    """A value Paddle sent is not one its spec allows (a currency code, an amount, a time, an id).

    ``record`` names what it belongs to (``customer ctm_...``, ``event evt_...``), ``field`` the field and
    ``value`` what was sent. Permanent: the same answer comes back on every call until Paddle's data changes,
    so fetching again does not help. A subclass of ValueError, so a reader that fails one customer on a bad
    value fails that customer alone; when it ends a command, exit 5 (malformed Paddle data).
    """

    exit_code = EXIT_PADDLE

    def __init__(self, record: str, field: str, value: Any, problem: str) -> None:
        self.record = record
        self.field = field
        self.value = value
        self.problem = problem
        shown = repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        super().__init__(f"{record}: {field} {shown} {problem} (malformed Paddle data, permanent: fetching "
                         "again does not help until Paddle's data changes; no figure of it is kept)")


class ReportFailedError(CreditReportsError):
    """A report could not be rendered; nothing was published and the index still shows the last good one.

    ``failed_notebook`` is where the executed notebook was kept for debugging (None when it could not
    be kept); ``cell`` is the execution count of the failing cell, ``ename`` and ``evalue`` the error.
    Exit 1.
    """

    exit_code = EXIT_REPORT_FAILED

    def __init__(
        self,
        message: str,
        *,
        failed_notebook: Path | None = None,
        cell: int | None = None,
        ename: str | None = None,
        evalue: str | None = None,
    ) -> None:
        super().__init__(message)
        self.failed_notebook = failed_notebook
        self.cell = cell
        self.ename = ename
        self.evalue = evalue


@dataclass(frozen=True)
class Finding:
    """One secret found: the file (and member, for a zip such as XLSX) and what kind of secret."""

    file: str
    what: str


class SecretLeakError(ReportFailedError):
    """A file about to be published holds the API key or something shaped like a Paddle secret.

    Nothing was published. The message names the file and the kind of secret, never the secret.
    A subclass of :class:`ReportFailedError`, so a scheduled run counts it as a failed report (exit 1).
    """

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = findings
        first = findings[0]
        more = f" (and {len(findings) - 1} more)" if len(findings) > 1 else ""
        super().__init__(
            f"refusing to publish: {first.file} contains {first.what}{more}; nothing was published. "
            "Remove credentials from notebook parameters and outputs (the key belongs only in "
            "PADDLE_API_KEY)"
        )


class MailError(CreditReportsError):
    """The report could not be emailed (it stays published); the message is one line, never a secret.

    Exit 6, the code a run reports when a published report could not be sent.
    """

    exit_code = EXIT_MAIL_FAILED


class PdfUnavailableError(CreditReportsError):
    """No PDF could be printed (Chromium missing, failing or too slow); the HTML report is unaffected."""


class PaddleError(CreditReportsError):
    """An error answer (or no usable answer) from the Paddle API.

    Attributes: ``status`` (HTTP status or None), ``code``, ``detail``, ``request_id``,
    ``documentation_url``, ``errors`` (list of ``{field, message}``), ``path`` (request path without
    query), ``environment`` and ``base_url`` (filled in by the client), ``attempts`` (calls made).
    """

    #: Unreachable, 5xx/52x, persistent 429, dropped or malformed: try again later (exit 5).
    exit_code = EXIT_PADDLE
    #: What went wrong, in words, when the subclass has nothing more specific to say.
    summary = "Paddle returned an error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        documentation_url: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        path: str | None = None,
        environment: str | None = None,
        base_url: str | None = None,
        attempts: int | None = None,
    ) -> None:
        detail = redact(detail) if detail is not None else None
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.request_id = request_id
        self.documentation_url = documentation_url
        self.errors = list(errors or [])
        self.path = path
        self.environment = environment
        self.base_url = base_url
        self.attempts = attempts

    # -- message -------------------------------------------------------------------------------------

    def _status_code(self) -> str:
        """'403 invalid_token', '503' or '' for the parenthesis in the message."""
        parts = [str(self.status)] if self.status is not None else []
        if self.code:
            parts.append(self.code)
        return " ".join(parts)

    def _where(self) -> str:
        """ "for environment 'sandbox' at https://..." when the client told us where it was talking."""
        bits = []
        if self.environment:
            bits.append(f"for environment '{self.environment}'")
        if self.base_url:
            bits.append(f"at {self.base_url}")
        return " ".join(bits)

    def _headline(self) -> str:
        """The first part of the message: what happened (subclasses override)."""
        text = self.summary
        if self.path:
            text += f" on GET {self.path}"
        return text

    def _advice(self) -> str:
        """What the reader should do about it (subclasses override)."""
        return self.detail or ""

    def __str__(self) -> str:
        head = self._headline()
        status = self._status_code()
        if status:
            head += f" ({status})"
        where = self._where()
        if where:
            head += f" {where}"
        advice = self._advice()
        text = f"{head}: {advice}" if advice else head
        if self.attempts and self.attempts > 1:
            text += f" (after {self.attempts} attempts)"
        if self.request_id:
            text += f" [request_id {self.request_id}]"
        return redact(" ".join(text.split()))

    def __repr__(self) -> str:
        return redact(
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, detail={self.detail!r}, "
            f"path={self.path!r}, request_id={self.request_id!r})"
        )

    def __reduce__(self):  # pickle/copy: keyword-only attributes survive (multiprocessing, papermill)
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[PaddleError], state: dict[str, Any]) -> PaddleError:
    err = cls.__new__(cls)
    Exception.__init__(err, state.get("detail"))
    err.__dict__.update(state)
    return err


class BadRequestError(PaddleError):
    """400: Paddle rejected the request (a bad filter or parameter); ``errors`` names the fields."""

    summary = "Paddle rejected the request"

    def _advice(self) -> str:
        fields = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in self.errors if isinstance(e, Mapping))
        return "; ".join(x for x in (self.detail, fields) if x)


class AuthenticationError(PaddleError):
    """401, or 403 ``authentication_missing`` / ``invalid_token``: the API key is missing or refused."""

    exit_code = EXIT_USAGE  # the key, its permissions or the URL are wrong: the user must act

    summary = "Paddle refused the API key"

    #: Set by the client when the key's prefix says which environment it belongs to.
    key_environment: str | None = None

    def _headline(self) -> str:
        if self.code == "authentication_missing":
            return "Paddle received no API key"
        return self.summary

    def _advice(self) -> str:
        if self.code == "authentication_missing":
            return "set PADDLE_API_KEY to an API key from Paddle > Developer tools > Authentication."
        return _key_hint(self.environment, self.key_environment)


def _key_hint(environment: str | None, key_environment: str | None) -> str:
    """What is really wrong with a refused key, from where it was sent and what its prefix says.

    A ``--base-url`` server (``local``, ``custom``) knows only its own keys, so sandbox vs production is
    beside the point there; against Paddle, a key of the other environment is the common mistake; a key
    of the right environment that is refused is revoked, expired or not copied whole."""
    if environment == "local":
        return ("this local server does not know the key: the simulator accepts only the key "
                "`credit-reports simulator` printed when it started; set PADDLE_API_KEY to that one.")
    if environment == "custom":
        return "the server at --base-url does not know the key; set PADDLE_API_KEY to a key that server issued."
    if key_environment and environment and key_environment != environment:
        fix = f"set PADDLE_ENVIRONMENT={key_environment}, or use a {environment} key"
        return (f"the key looks like a {key_environment} key but the environment is '{environment}': sandbox "
                f"and production keys differ; {fix}.")
    if key_environment is None:  # the key's prefix names no environment (or the key is not known here)
        return ("sandbox and production keys differ: check PADDLE_ENVIRONMENT matches your key, and that the "
                "key is not revoked or expired.")
    return (f"the key is a {key_environment} key, as the environment is: it is revoked, expired or mistyped; "
            "check it in Paddle > Developer tools > Authentication.")


class PermissionDeniedError(PaddleError):
    """403 ``forbidden``: the key is valid but lacks a permission for this call."""

    exit_code = EXIT_USAGE  # the key, its permissions or the URL are wrong: the user must act

    summary = "The Paddle API key lacks a permission"

    def _advice(self) -> str:
        need = _permission_for(self.path)
        text = f"give the key the {need} permission" if need else "give the key the read permissions"
        text += f" ({read_permissions_text()}) in Paddle > Developer tools > Authentication."
        if self.detail:
            text = f"{self.detail.rstrip('.')}; {text}"
        return text


class NotFoundError(PaddleError):
    """404: the entity does not exist (or exists only in the other environment)."""

    exit_code = EXIT_USAGE  # the key, its permissions or the URL are wrong: the user must act

    summary = "Paddle found no such entity"

    def _advice(self) -> str:
        text = (self.detail or "not found").rstrip(".")
        return text + "; it may exist only in the other environment (sandbox vs production)."


class RateLimitError(PaddleError):
    """429: over Paddle's rate limit; ``retry_after`` is the wait in seconds (None when not given)."""

    summary = "Paddle's rate limit was exceeded"

    def __init__(self, detail: str | None = None, *, retry_after: float | None = None, **kwargs: Any):
        super().__init__(detail, **kwargs)
        self.retry_after = retry_after

    def _advice(self) -> str:
        wait = f"retry after {self.retry_after:g} s" if self.retry_after is not None else "retry later"
        return f"{wait}; lower --max-rpm if this repeats (Paddle allows 240 requests a minute per IP)."


class ServerError(PaddleError):
    """5xx or 520-524: Paddle or its edge failed; retried with backoff before this is raised."""

    summary = "Paddle had a server error"

    def _advice(self) -> str:
        text = self.detail or "no detail given"
        return text.rstrip(".") + "; try again later or check https://paddlestatus.com."


class APIConnectionError(PaddleError):
    """No usable response: connection refused, DNS failure, timeout, dropped connection, malformed body."""

    summary = "No usable response from Paddle"

    def __init__(self, detail: str | None = None, *, reason: str | None = None, **kwargs: Any):
        super().__init__(detail, **kwargs)
        self.reason = reason

    def _headline(self) -> str:
        unreachable = self.reason in {"connection refused", "host name not found", "connection timed out"}
        text = "Could not reach Paddle" if unreachable else "No usable response from Paddle"
        if self.reason:
            text += f" ({self.reason})"
        if self.path:
            text += f" on GET {self.path}"
        return text

    def _advice(self) -> str:
        return self.detail or "check the base URL and your network."


# -- building errors from responses ---------------------------------------------------------------


#: The Paddle permission each path the toolkit reads needs (the README's "Permissions" paragraph explains each).
_PERMISSION_BY_PATH: tuple[tuple[str, str], ...] = (
    ("/adjustments", "adjustment.read"),
    ("/events", "notification.read"),
    ("/subscriptions", "subscription.read"),
    ("/transactions", "transaction.read"),
    ("/customers", "customer.read"),
)

#: Every read permission ``fetch`` and ``history`` use, the required one (customer.read) first: the one
#: list the missing-key and permission errors name.
READ_PERMISSIONS: tuple[str, ...] = ("customer.read", *sorted({p for _, p in _PERMISSION_BY_PATH} - {"customer.read"}))


def read_permissions_text() -> str:
    """The read permissions as a phrase for an error line: ``customer.read, adjustment.read, ... and x.read``."""
    return ", ".join(READ_PERMISSIONS[:-1]) + f" and {READ_PERMISSIONS[-1]}"


def _permission_for(path: str | None) -> str | None:
    """The Paddle permission a read of ``path`` needs, for the advice in PermissionDeniedError."""
    if not path:
        return None
    for prefix, perm in _PERMISSION_BY_PATH:
        if path.startswith(prefix):
            return perm
    return None


def _text_excerpt(body: bytes | str) -> str:
    """A short one-line excerpt of a non-JSON body: an HTML page's <title>, else its first characters."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes | bytearray) else str(body)
    match = re.search(r"<title[^>]*>(.*?)</title>", text, re.I | re.S)
    if match:
        text = match.group(1)
    elif "<" in text and ">" in text:
        text = re.sub(r"<[^>]+>", " ", text)
    text = " ".join(html.unescape(text).split())
    if len(text) > _EXCERPT_CHARS:
        text = text[: _EXCERPT_CHARS - 1].rstrip() + "…"
    return text


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """Case-insensitive header lookup on any mapping (requests' CaseInsensitiveDict or a plain dict)."""
    if not headers:
        return None
    value = headers.get(name)
    if value is not None:
        return value
    lower = name.lower()
    for key, val in headers.items():
        if key.lower() == lower:
            return val
    return None


def _class_for(status: int, code: str | None) -> type[PaddleError]:
    """Pick the subclass from the HTTP status and Paddle's code (never from ``type``)."""
    if status == 400:
        return BadRequestError
    if status == 401:
        return AuthenticationError
    if status == 403:
        if code in AUTHENTICATION_CODES or (code or "").startswith("authentication_"):
            return AuthenticationError
        return PermissionDeniedError
    if status == 404:
        return NotFoundError
    if status == 429:
        return RateLimitError
    if status >= 500:
        return ServerError
    return PaddleError


def error_from_response(
    status: int,
    body: bytes | str | Mapping[str, Any] | None,
    headers: Mapping[str, str] | None = None,
    path: str | None = None,
    *,
    environment: str | None = None,
    base_url: str | None = None,
) -> PaddleError:
    """Build the right :class:`PaddleError` subclass from an error response.

    ``body`` may be raw bytes, text or an already decoded envelope
    ``{"error": {type, code, detail, documentation_url, errors?}, "meta": {request_id}}``; bodies that
    are not JSON (an edge proxy's HTML page, plain text) give ``detail`` = a short excerpt of the text.
    """
    envelope: Any = body
    detail: str | None = None
    if isinstance(body, bytes | bytearray | str):
        raw = body
        try:
            envelope = json.loads(raw) if raw else None
        except ValueError:
            envelope = None
            detail = _text_excerpt(raw) or None
    error = envelope.get("error") if isinstance(envelope, Mapping) else None
    meta = envelope.get("meta") if isinstance(envelope, Mapping) else None
    error = error if isinstance(error, Mapping) else {}
    meta = meta if isinstance(meta, Mapping) else {}
    if envelope is not None and not error and detail is None and not isinstance(envelope, Mapping):
        detail = _text_excerpt(json.dumps(envelope))

    code = error.get("code") if isinstance(error.get("code"), str) else None
    if error.get("detail") is not None:
        detail = str(error.get("detail"))
    errors = error.get("errors") if isinstance(error.get("errors"), list) else None
    request_id = meta.get("request_id") or _header(headers, "Request-Id") or _header(headers, "X-Request-Id")

    cls = _class_for(int(status), code)
    kwargs: dict[str, Any] = dict(
        status=int(status),
        code=code,
        request_id=str(request_id) if request_id else None,
        documentation_url=error.get("documentation_url"),
        errors=errors,
        path=path,
        environment=environment,
        base_url=base_url,
    )
    if cls is RateLimitError:
        kwargs["retry_after"] = parse_retry_after(_header(headers, "Retry-After"))
    return cls(detail, **kwargs)


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
