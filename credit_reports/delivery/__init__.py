"""Getting a prepared report to its readers: render (papermill, clean HTML), exports (CSV, XLSX), PDF,
atomic publish, the index, email, the close pack and the run configuration.
"""

from credit_reports.core.lazy import exports

_EXPORTS: dict[str, str] = {
    "render_report": "render",
    "to_excel": "excel",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = exports(__name__, _EXPORTS)
