"""The report: its parameters (declared once, parsed from text one way), prepare(), the display tables,
the close tables, alerts and the kernel's hand-off of export facts.
"""

from credit_reports.core.lazy import exports

_EXPORTS: dict[str, str] = {
    "COHORT_RULES": "preparation",
    "Parameters": "preparation",
    "Report": "preparation",
    "parameter_names": "preparation",
    "period_closing": "preparation",
    "prepare": "preparation",
    "resolve_data_dir": "preparation",
    "validate_parameters": "preparation",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = exports(__name__, _EXPORTS)
