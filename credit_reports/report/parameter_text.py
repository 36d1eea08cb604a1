"""Report parameters from text, parsed the same way whichever runner passes them.

``credit-reports render -p NAME VALUE`` reads VALUE with :func:`parse_value`; ``papermill -p NAME
VALUE`` hands the notebook the raw string (``"[EUR, USD]"``), which the notebook's validation reads
with :func:`parse_list`. Both accept the same list forms, so one command line means one thing:

* a YAML / papermill flow list: ``[EUR, USD]``
* a JSON list: ``["EUR", "USD"]``
* comma- or space-separated words: ``EUR,USD`` or ``EUR USD``
* an actual Python list or tuple (from a notebook cell or a config file)
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from credit_reports.core.errors import UsageError

__all__ = ["LIST_FORMS", "parse_list", "parse_value"]

#: The list forms every runner accepts, as shown in help texts.
LIST_FORMS = '[EUR, USD], ["EUR", "USD"] or EUR,USD'

_SEPARATORS = re.compile(r"[,\s]+")


def parse_value(text: str) -> Any:
    """A command-line parameter value as YAML (numbers, booleans, lists), else the plain string.

    Dates and times stay text (``2026-12-01`` is a snapshot name to the report, not a ``date``).
    """
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, dt.date | dt.datetime):
        return text
    return value


def parse_list(value: Any, name: str = "value") -> list[str]:
    """A list of words from any accepted form (see the module docstring); ``None`` or ``""`` is empty.

    Raises :class:`UsageError` naming ``name`` and the accepted forms when ``value`` is none of them.
    """
    if value is None:
        return []
    if isinstance(value, list | tuple):
        items = list(value)
    elif isinstance(value, str):
        items = _list_from_text(value.strip(), name)
    else:
        raise UsageError(f"{name} must be a list such as {LIST_FORMS}; got {value!r}")
    words = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise UsageError(f"{name}: {item!r} is not a code; write a list such as {LIST_FORMS}")
        words.append(item.strip())
    return words


def _list_from_text(text: str, name: str) -> list[Any]:
    """``[a, b]`` (YAML or JSON) or ``a,b`` / ``a b`` as a list of items."""
    if not text:
        return []
    if text.startswith("["):
        if not text.endswith("]"):
            raise UsageError(f"{name}: {text!r} opens a list with '[' but does not close it; write {LIST_FORMS}")
        try:
            value = json.loads(text)
        except ValueError:
            inner = text[1:-1]
            value = [w.strip().strip("'\"") for w in inner.split(",")] if inner.strip() else []
        if not isinstance(value, list):
            raise UsageError(f"{name}: {text!r} is not a list; write {LIST_FORMS}")
        return value
    return [w for w in _SEPARATORS.split(text) if w]


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
