"""One redaction for everything the toolkit writes: log lines, error messages, journals, manifests, reports.

What is removed (replaced by ``[redacted]``):

* the API key in use: every key a :class:`~credit_reports.paddle.client.PaddleClient` was built with (registered
  here with :func:`register_secret`) and ``$PADDLE_API_KEY``;
* anything shaped like a Paddle secret (``pdl_live_apikey_...``, ``pdl_sdbx_...``, ``pdl_ntfset_...``);
* any ``Authorization`` value (``Bearer ...``, ``Basic ...``, or whatever follows ``Authorization:``);
* URL query secrets: the value of ``token=``, ``key=``, ``api_key=``, ``secret=``, ``password=``,
  ``signature=`` and their kin in any URL or query string.

It is applied where text is made, so no writer can forget it: every :class:`CreditReportsError` message,
every log record of a ``credit_reports.*`` logger (a log-record factory installed on import), the
checkpoint journal and every JSON file the store writes; ``render`` uses it for notebook errors.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable
from typing import Any

__all__ = ["REDACTED", "redact", "register_secret", "install_log_redaction", "QUERY_SECRET_NAMES"]

REDACTED = "[redacted]"

#: Query parameter names whose values are secrets (matched case-insensitively, also with a prefix such as
#: ``access_token`` or ``x-api-key``).
QUERY_SECRET_NAMES = (
    "token", "key", "api_key", "apikey", "api-key", "secret", "client_secret", "password", "passwd", "pwd",
    "signature", "sig", "auth", "authorization", "access_token", "refresh_token", "session", "credential",
)

#: A secret shorter than this is not replaced literally: it would match ordinary words and figures.
MIN_LITERAL_LENGTH = 8

_PADDLE_SHAPES = re.compile(
    r"pdl_(?:live|sdbx)_apikey_[A-Za-z0-9_]{10,}"
    r"|pdl_(?:live|sdbx)_[A-Za-z0-9]{2,}_[A-Za-z0-9_]{16,}"
    r"|pdl_ntfset_[A-Za-z0-9_]{10,}"
)
# "Authorization: Bearer xyz", "'Authorization': 'xyz'", "authorization=xyz": keep the name, drop the value.
_AUTH_HEADER = re.compile(
    r"""(?i)(authorization["']?\s*[:=]\s*["']?)(?:(?:bearer|basic|token)\s+)?[^\s"',;}&]+"""
)
_SCHEME_VALUE = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]{6,}")
_NAMES = "|".join(re.escape(n) for n in sorted(QUERY_SECRET_NAMES, key=len, reverse=True))
_QUERY_SECRET = re.compile(rf"(?i)([?&;][A-Za-z0-9_\-.]*?(?:{_NAMES})=)[^&#\s\"'<>]+")

_SECRETS: set[str] = set()
_LOCK = threading.Lock()


def register_secret(secret: str | None) -> None:
    """Remember a secret (the key a client uses) so every later redaction removes it literally."""
    if secret and len(secret) >= MIN_LITERAL_LENGTH:
        with _LOCK:
            _SECRETS.add(secret)


def _literals(extra: Iterable[str | None]) -> list[str]:
    """The secrets to remove literally: registered, ``$PADDLE_API_KEY`` and ``extra``, longest first."""
    found = set(_SECRETS)
    env = os.environ.get("PADDLE_API_KEY")
    for value in (env, *extra):
        if value and len(value) >= MIN_LITERAL_LENGTH:
            found.add(value)
            stripped = value.strip().strip("'\"")
            if len(stripped) >= MIN_LITERAL_LENGTH:
                found.add(stripped)
    return sorted(found, key=len, reverse=True)


def redact(text: Any, secrets: Iterable[str | None] = ()) -> str:
    """``text`` (made a string) with keys, Authorization values and URL query secrets replaced.

    ``secrets`` adds literal values to remove (e.g. the ``api_key`` a render was given).
    """
    out = text if isinstance(text, str) else str(text)
    for secret in _literals(secrets):
        if secret in out:
            out = out.replace(secret, REDACTED)
    out = _PADDLE_SHAPES.sub(REDACTED, out)
    out = _AUTH_HEADER.sub(lambda m: m.group(1) + REDACTED, out)
    out = _SCHEME_VALUE.sub(lambda m: f"{m.group(1)} {REDACTED}", out)
    out = _QUERY_SECRET.sub(lambda m: m.group(1) + REDACTED, out)
    return out


# -- logging ---------------------------------------------------------------------------------------

_INSTALLED = False


def install_log_redaction() -> None:
    """Redact every record a ``credit_reports`` logger creates, once per process (idempotent).

    A record factory rather than a filter: a filter on the ``credit_reports`` logger does not see the
    records of ``credit_reports.paddle.client`` and friends, and handlers belong to the application. The
    message is formatted and redacted when the record is made; other libraries' records pass untouched.
    """
    global _INSTALLED
    with _LOCK:
        if _INSTALLED:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            if record.name == "credit_reports" or record.name.startswith("credit_reports."):
                try:
                    message = record.getMessage()
                except Exception:  # a bad format string: let logging report it as usual
                    return record
                record.msg = redact(message)
                record.args = ()
            return record

        logging.setLogRecordFactory(factory)
        _INSTALLED = True


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
