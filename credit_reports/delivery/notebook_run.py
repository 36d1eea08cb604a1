"""Executing a report notebook: finding it, reading the parameters it declares, and running it on the kernel.

:func:`resolve_notebook` finds a notebook by path or by name (the repository's ``notebooks/`` first, then the
copy shipped in the package); :func:`notebook_parameters` reads its tagged ``parameters`` cell;
:func:`check_parameter_names` refuses unknown and credential-like names (papermill only warns); and
:func:`execute` runs it with papermill on the project's kernel with a per-cell timeout, in an environment
that holds no API key. :mod:`credit_reports.delivery.render` strips, exports and publishes the result.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nbformat

from credit_reports.core.errors import UsageError

log = logging.getLogger("credit_reports.render")

DEFAULT_KERNEL = "credit-reports"
INJECTED_TAG = "injected-parameters"

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # credit_reports/, above delivery/
#: The repository's notebooks (editable installs and checkouts): the source of truth.
REPO_NOTEBOOKS = _PACKAGE_DIR.parent / "notebooks"
#: Notebooks shipped as package data, for non-editable installs where notebooks/ is not beside us.
PACKAGED_NOTEBOOKS = _PACKAGE_DIR / "notebooks"

#: A cell running longer than this fails the report, so a hung notebook cannot hang a scheduled run.
CELL_TIMEOUT_SECONDS = 1800

#: Words that make a parameter name look like a credential (matched against the name's parts).
_CREDENTIAL_PARTS = {"key", "apikey", "token", "secret", "password", "passwd", "pwd", "auth", "bearer"}
_CREDENTIAL_SUBSTRINGS = (
    "apikey", "api_key", "token", "secret", "passw", "credential", "authoriz", "private_key",
)



# ---------------------------------------------------------------------------------------------------
# notebook and parameters


def resolve_notebook(notebook: str | os.PathLike[str]) -> Path:
    """The notebook file for a name (``credit_balances`` in ``notebooks/``) or a path to an ``.ipynb``.

    Names are looked up in the repository's ``notebooks/`` first (the source, so an edit there is what
    renders), then in the copy shipped inside the package for non-editable installs.
    """
    text = os.fspath(notebook)
    candidate = Path(text).expanduser()
    looks_like_path = candidate.suffix == ".ipynb" or os.sep in text or candidate.is_file()
    if looks_like_path:
        if candidate.is_file():
            return candidate.resolve()
        raise UsageError(f"notebook {text} does not exist: give a notebook name or a path to an .ipynb file")
    name = text.removesuffix(".ipynb")
    for folder in (REPO_NOTEBOOKS, PACKAGED_NOTEBOOKS):
        path = folder / f"{name}.ipynb"
        if path.is_file():
            return path
    folders = [f for f in (REPO_NOTEBOOKS, PACKAGED_NOTEBOOKS) if f.is_dir()]
    known = sorted({p.stem for f in folders for p in f.glob("*.ipynb")})
    raise UsageError(
        f"no notebook named {name!r}: choose one of {', '.join(known) or '(none found)'} or give a path"
    )


def notebook_parameters(path: Path) -> dict[str, dict[str, Any]]:
    """The parameters the notebook declares: every name its ``parameters`` cell assigns.

    The cell is read with Python's own parser, so a ``name: type = value  # help`` line is found even
    where papermill's line pattern gives up (papermill skips lines with a second ``=``, e.g. in the
    help text). Papermill's type, default and help are added where it could read them.
    """
    import ast

    import papermill

    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in (c.get("metadata", {}).get("tags") or [])]
    declared: dict[str, dict[str, Any]] = {}
    for cell in cells[:1]:
        source = cell.get("source", "")
        try:
            tree = ast.parse(source)
        except SyntaxError:
            tree = None
        for node in tree.body if tree is not None else []:
            targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
            for target in targets:
                if isinstance(target, ast.Name):
                    value = getattr(node, "value", None)
                    default = ast.get_source_segment(source, value) if value is not None else None
                    declared[target.id] = {"name": target.id, "inferred_type_name": "None",
                                           "default": default, "help": ""}
    quiet = logging.getLogger("papermill.translators")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        inferred = papermill.inspect_notebook(str(path))
    except ValueError:  # no kernelspec in the notebook's metadata: the names read above stand
        inferred = {}
    finally:
        quiet.setLevel(level)
    for name, info in inferred.items():
        declared[name] = {**declared.get(name, {}), **info}
    return declared


def looks_like_credential(name: str) -> bool:
    """True for parameter names such as ``api_key``, ``apiKey``, ``auth_token``, ``password``, ``secret``."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()
    parts = [p for p in re.split(r"[^a-z0-9]+", spaced) if p]
    if any(p in _CREDENTIAL_PARTS for p in parts):
        return True
    return any(s in spaced for s in _CREDENTIAL_SUBSTRINGS)


def check_parameter_names(parameters: Mapping[str, Any], declared: Mapping[str, Any], notebook: str) -> None:
    """Refuse credential-like names and names the notebook does not declare, with one clear line each."""
    secret = sorted(n for n in parameters if looks_like_credential(str(n)))
    if secret:
        raise UsageError(
            f"refusing parameter {', '.join(secret)}: credentials are never notebook parameters; the "
            "key comes only from PADDLE_API_KEY (and a report never needs it)"
        )
    unknown = sorted(n for n in parameters if n not in declared)
    if unknown:
        valid = ", ".join(sorted(declared)) or "(none)"
        raise UsageError(
            f"notebook {notebook} does not declare parameter {', '.join(unknown)}: "
            f"valid parameters are {valid}"
        )


def jsonable(value: Any) -> Any:
    """Parameter values as papermill and JSON take them (paths as strings, tuples as lists)."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, tuple | list):
        return [jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value


def default_title(declared: Mapping[str, Any], fallback: str) -> str:
    """The ``title`` parameter's default, when the notebook declares one as a string literal."""
    import ast

    default = (declared.get("title") or {}).get("default")
    try:
        value = ast.literal_eval(default) if isinstance(default, str) else None
    except (ValueError, SyntaxError):
        value = None
    return value if isinstance(value, str) and value else fallback


# ---------------------------------------------------------------------------------------------------
# execution


def kernel_for(kernel_name: str) -> str:
    """``kernel_name`` when that kernelspec exists; else this interpreter's own kernel, with a warning."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(kernel_name)
        return kernel_name
    except NoSuchKernel:
        from jupyter_client.kernelspec import NATIVE_KERNEL_NAME

        log.warning(
            "kernel %r is not registered; using %r (%s) instead. Run `make report` once to register it.",
            kernel_name, NATIVE_KERNEL_NAME, sys.executable,
        )
        return NATIVE_KERNEL_NAME


@contextmanager
def shared_salt() -> Iterator[str]:
    """One pseudonymisation salt for the kernel and this process during a render; yields it.

    ``pseudonymize=True`` hashes customer IDs with the salt in $CREDIT_REPORTS_PSEUDONYM_SALT, or a
    random per-process one when it is unset. The kernel (HTML) and this process (exports) are two
    processes, so without a shared salt the same customer would get different pseudonyms in the report
    and in its CSV/XLSX. When unset, a random salt is set for the render and removed afterwards. The
    salt is a secret: the scan makes sure no output holds it.
    """
    import secrets

    from credit_reports.figures.privacy import SALT_ENV

    existing = os.environ.get(SALT_ENV)
    if existing:
        yield existing
        return
    salt = secrets.token_hex(16)
    os.environ[SALT_ENV] = salt
    try:
        yield salt
    finally:
        os.environ.pop(SALT_ENV, None)


@contextmanager
def kernel_environment() -> Iterator[None]:
    """Start the kernel without the API key in its environment: a report never needs it.

    (The kernel inherits os.environ when it starts; the key is restored right after.)
    """
    saved = os.environ.pop("PADDLE_API_KEY", None)
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # no debugger notice on stderr
    try:
        yield
    finally:
        if saved is not None:
            os.environ["PADDLE_API_KEY"] = saved


def execute(path: Path, output: Path, parameters: dict[str, Any], kernel_name: str) -> nbformat.NotebookNode:
    """Run the notebook with papermill in its own folder; the executed copy is also written to ``output``."""
    import papermill
    from traitlets.config import Config

    # Parameters are checked before execution (check_parameter_names): papermill's own warnings about
    # them ("unknown parameter", "unable to parse line") would only repeat or confuse that.
    logging.getLogger("papermill").setLevel(logging.ERROR)
    # The kernel talks over Unix sockets in a private folder rather than loopback TCP: no other user of
    # the machine can connect to it (and ipykernel has nothing to warn about on stderr).
    with kernel_environment(), tempfile.TemporaryDirectory(prefix="credit-reports-kernel-") as sockets:
        config = Config()
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = os.path.join(sockets, "kernel")
        # jupyter_client interrupts the kernel before shutting it down, which ipykernel logs as
        # "ERROR | KeyboardInterrupt caught in kernel" on every render; a cell's real errors still reach
        # the executed notebook (and a crash still fails the render), so the kernel's own log stays quiet.
        config.NotebookClient.extra_arguments = ["--IPKernelApp.log_level=CRITICAL"]
        return papermill.execute_notebook(
            str(path),
            str(output),
            parameters=parameters,
            kernel_name=kernel_for(kernel_name),
            language="python",
            progress_bar=False,
            log_output=False,
            request_save_on_cell_execute=False,
            execution_timeout=CELL_TIMEOUT_SECONDS,
            cwd=str(path.parent),
            config=config,
        )
