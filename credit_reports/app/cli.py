"""The ``credit-reports`` command line: demo, fetch, render, run, snapshots, simulator.

Every command turns bad input into one line on stderr and exit code 2, never a traceback. The API key is
read from PADDLE_API_KEY only. Exit codes (the table in README.md, tested one by one in tests/test_cli.py):

  0  done: every report rendered from a complete snapshot
  1  a report failed (the last good one stays published), or an unexpected error
  2  bad input: an argument, PADDLE_API_KEY / PADDLE_ENVIRONMENT, a parameter value, a key Paddle refuses,
     an unusable store (a corrupt snapshot asked for, a full disk, an unwritable folder), or data that
     cannot be totalled exactly (a total beyond 64 bits)
  3  the snapshot is incomplete (some customers failed), or ``snapshots --check`` found an unusable one
  4  another run or fetch holds the lock; nothing was done
  5  Paddle unreachable or failing after the retries (5xx, 520-524, 429s that persist, dropped connections,
     malformed or endless answers); nothing was published
  6  report published but the email could not be sent
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import shutil
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from credit_reports._version import __version__
from credit_reports.core import logs
from credit_reports.core.errors import (
    EXIT_ATTENTION,
    EXIT_INCOMPLETE,
    EXIT_OK,
    EXIT_REPORT_FAILED,
    EXIT_USAGE,
    CreditReportsError,
    UsageError,
)
from credit_reports.core.logs import say

PROG = "credit-reports"
log = logging.getLogger("credit_reports.cli")


class _Parser(argparse.ArgumentParser):
    """argparse with our one-line error style and exit code 2 (argparse's own code for usage errors)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{logs.stamp()} {self.prog}: error: {message} (see --help)\n")


class _FetchStrategies(Sequence[str]):
    """``fetch_strategies.STRATEGIES`` (their one home), read only when argparse needs them: importing it pulls in
    pandas and requests (about a second), which ``--help`` and the other commands should not pay."""

    def __getitem__(self, index: Any) -> Any:
        from credit_reports.fetch.strategies import STRATEGIES

        return STRATEGIES[index]

    def __len__(self) -> int:
        from credit_reports.fetch.strategies import STRATEGIES

        return len(STRATEGIES)


STRATEGIES: Sequence[str] = _FetchStrategies()


def _positive_int(text: str) -> int:
    """argparse type: a whole number above zero (rates, ports, counts)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be above zero")
    return value


def _rpm(text: str) -> int:
    """argparse type: requests a minute, 1 up to the client's cap (Paddle itself allows 240)."""
    from credit_reports.paddle.client import MAX_RPM

    value = _positive_int(text)
    if value > MAX_RPM:
        raise argparse.ArgumentTypeError(f"{text!r} is more than {MAX_RPM} requests a minute (Paddle allows 240)")
    return value


def _workers(text: str) -> int:
    """argparse type: parallel balance requests, 1 to 64 (the rate limit, not threads, sets the pace)."""
    value = _positive_int(text)
    if value > 64:
        raise argparse.ArgumentTypeError(f"{text!r} is more than 64 workers; the rate limit sets the pace, not threads")
    return value


def _port(text: str) -> int:
    """argparse type: a TCP port, 0 (pick a free one) to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: use 0 (any free port) to 65535")
    return value


def _positive_float(text: str) -> float:
    """argparse type: a number of seconds above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be above zero")
    return value


def _fault(text: str) -> tuple[str, int]:
    """argparse type: a simulator fault ``KIND[:COUNT]``, e.g. ``429:3`` or ``drop``."""
    from credit_reports.simulator import FAULTS

    kind, _, count = text.partition(":")
    if kind not in FAULTS:
        raise argparse.ArgumentTypeError(f"unknown fault {kind!r}; choose from {', '.join(sorted(FAULTS))}")
    return kind, _positive_int(count) if count else 1


def _percent(text: str) -> float:
    """A percentage from 0 to 100 (``2`` or ``2%``)."""
    try:
        value = float(text.strip().rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a percentage from 0 to 100, not {text!r}") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"must be a percentage from 0 to 100, not {text!r}")
    return value


def _add_fetch_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``fetch`` and ``run``: where to fetch from and how hard to push."""
    parser.add_argument("--base-url", help="Paddle-compatible API root; overrides PADDLE_ENVIRONMENT")
    parser.add_argument(
        "--environment",
        help="production or sandbox (default: $PADDLE_ENVIRONMENT, else production)",
    )
    parser.add_argument("--max-rpm", type=_rpm, default=240, help="requests per minute (default 240)")
    parser.add_argument("--strategy", choices=STRATEGIES, default="auto", metavar="STRATEGY",
                        help="how to fetch: %(choices)s (default %(default)s)")
    parser.add_argument("--workers", type=_workers, default=4, help="parallel balance requests (default 4, at most 64)")
    parser.add_argument("--verify-sample", type=_percent, default=2.0, metavar="PERCENT",
                        help="percent of skipped customers a first snapshot fetches to check the skip rule "
                             "(default 2, at least 50 and at most 500 customers; an incremental checks a rotating "
                             "slice instead; 0 turns the check off)")


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="snapshot store (default $CREDIT_REPORTS_DATA_DIR or ./data)")


def _add_out_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("reports"), help="report folder (default reports/)")


def _add_retention_options(parser: argparse.ArgumentParser) -> None:
    """Retention: how many snapshots to keep, or for how long (the newest complete one always stays)."""
    parser.add_argument("--keep", type=_positive_int, help="after the run, keep only the N newest snapshots")
    parser.add_argument("--keep-days", type=_positive_int, help="after the run, delete snapshots older than D days")


def _exit_code(text: str) -> int:
    """An exit code a shell can see: 0-125."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an exit code (0-125)") from None
    if not 0 <= value <= 125:
        raise argparse.ArgumentTypeError(f"{value} is not an exit code (0-125)")
    return value


def _add_report_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``render`` and ``run`` (``run`` takes every one of render's): which reports, from
    which snapshot, with which parameters, and whether to print PDFs."""
    parser.add_argument(
        "--snapshot",
        help="the snapshot to report: an as-of (e.g. 20261130T235959Z), a month (2026-11: its last snapshot, "
        "UTC), a date (2026-11-30: the newest on or before it) or latest (default: the report's snapshot "
        "parameter, else latest; run reports the snapshot it fetches)",
    )
    parser.add_argument("--pdf", action="store_true", help="also print each report to PDF (headless Chromium)")
    parser.add_argument("--config", help="credit-reports.toml listing reports (default ./credit-reports.toml)")
    parser.add_argument("--notebook", help="render this notebook instead of the configured reports")
    parser.add_argument("--name", help="output file name with --notebook (default credit-balances)")
    parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        metavar=("NAME", "VALUE"),
        default=[],
        help="notebook parameter, e.g. -p cohort signup_quarter (YAML value: -p currencies '[USD, EUR]')",
    )


def build_parser() -> argparse.ArgumentParser:
    """The full command line, one sub-command per job."""
    parser = _Parser(prog=PROG, description="Paddle customer credit balances: snapshots and HTML reports.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log lines on stderr")
    parser.add_argument("--quiet", action="store_true", help="no progress bars (for schedules)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    demo = sub.add_parser("demo", help="render the demo report from the built-in simulator (no key needed)")
    _add_out_dir(demo)
    demo.add_argument("--customers", type=_positive_int, default=2000, help="simulated customers (default 2000)")
    demo.add_argument("--seed", type=int, default=7, help="simulator seed (default 7)")
    _add_data_dir(demo)
    demo.set_defaults(handler=cmd_demo)

    fetch = sub.add_parser("fetch", help="fetch a snapshot of credit balances; prints its folder")
    _add_fetch_options(fetch)
    _add_data_dir(fetch)
    fetch.add_argument("--plans", action="store_true",
                       help="also read the credit holders' subscriptions (renewal plans) for the maturity split; "
                            "about one call per 100 holders (run does this by default)")
    fetch.set_defaults(handler=cmd_fetch)

    render = sub.add_parser("render", help="render reports from a stored snapshot to HTML")
    _add_data_dir(render)
    _add_out_dir(render)
    render.add_argument(
        "--environment",
        help="environment of the snapshot to report: production, sandbox, local, custom or demo (default: the "
        "report's environment parameter, else the one with the newest snapshot)",
    )
    _add_report_options(render)
    render.set_defaults(handler=cmd_render)

    run = sub.add_parser("run", help="fetch then render every configured report (for schedules)")
    _add_fetch_options(run)
    _add_data_dir(run)
    _add_out_dir(run)
    _add_report_options(run)
    _add_retention_options(run)
    run.add_argument("--no-mail", action="store_true", help="do not email the reports, even with a [mail] config")
    run.add_argument("--no-plans", action="store_true",
                     help="do not read the renewal plans (the pack then does not estimate the current / "
                          "non-current split)")
    run.add_argument(
        "--attention-exit-code", type=_exit_code, default=EXIT_ATTENTION, metavar="CODE",
        help=f"exit code of a run that published a report needing attention (default {EXIT_ATTENTION}; 0 keeps "
        "the behaviour before it)")
    run.set_defaults(handler=cmd_run)

    snapshots = sub.add_parser("snapshots", help="list stored snapshots")
    _add_data_dir(snapshots)
    snapshots.add_argument("--environment", help="only this environment")
    snapshots.add_argument(
        "--check", action="store_true", help="read every file of every snapshot in full; exit 3 if one is unusable"
    )
    _add_retention_options(snapshots)
    snapshots.set_defaults(handler=cmd_snapshots)

    from credit_reports.app.cli_history import add_parser as add_history

    add_history(sub, _add_data_dir, _positive_int, _rpm)

    sim = sub.add_parser("simulator", help="serve the local Paddle simulator until interrupted")
    sim.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    sim.add_argument(
        "--allow-remote", action="store_true", help="allow a non-loopback --host (the simulator has no real auth)"
    )
    sim.add_argument("--port", type=_port, default=8765, help="port (default 8765; 0 picks a free one)")
    sim.add_argument("--customers", type=_positive_int, default=2000, help="simulated customers (default 2000)")
    sim.add_argument("--seed", type=int, default=7, help="seed of the synthetic account (default 7)")
    sim.add_argument("--rpm", type=_positive_int, help="rate limit per client IP (default: none)")
    sim.add_argument("--window-seconds", type=float, default=60.0, help="rate-limit window (default 60)")
    sim.add_argument("--block-seconds", type=float, default=60.0, help="block after exceeding (default 60)")
    sim.add_argument("--latency-ms", type=int, default=0, help="added latency per response (default 0)")
    sim.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KIND[:COUNT]",
        type=_fault,
        help="answer the next COUNT requests (default 1) with a fault: 429, 429-date, 429-bare, 500-504, "
        "520-524, drop, slow, malformed; repeatable",
    )
    sim.add_argument(
        "--advance-every",
        type=_positive_float,
        metavar="SECONDS",
        help="move the account on every SECONDS while serving (new credit, renewals billed, past due, paid or "
        "canceled, invoices, seller credits, transfers, refunds, sign-ups), so two fetches show a real "
        "roll-forward (default: the account stands still)",
    )
    sim.add_argument(
        "--event-lag-ms",
        type=int,
        default=0,
        metavar="MS",
        help="list each event up to MS after it occurred, late and out of order, as a busy Paddle may (default 0)",
    )
    sim.set_defaults(handler=cmd_simulator)
    for listed in sub._choices_actions:  # each command's --help opens with its line of the top-level list
        sub.choices[listed.dest].description = f"{listed.help[0].upper()}{listed.help[1:]}."
    return parser


def _data_dir(args: argparse.Namespace) -> Path:
    """The snapshot store named on the command line, else the library default."""
    from credit_reports.store.reader import default_data_dir

    return Path(args.data_dir) if args.data_dir else default_data_dir()


def _client(args: argparse.Namespace) -> Any:
    """A PaddleClient from PADDLE_API_KEY and the fetch options (bad key/environment: UsageError)."""
    from credit_reports.paddle.client import PaddleClient

    return PaddleClient(environment=args.environment, base_url=args.base_url, max_rpm=args.max_rpm)


def _fetch_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "strategy": args.strategy,
        "max_rpm": args.max_rpm,
        "workers": args.workers,
        "verify_sample": args.verify_sample / 100,
        "progress": not args.quiet,
    }


def _parse_value(text: str) -> Any:
    """A -p value as YAML (numbers, booleans, lists), else the plain string (report.parameter_text)."""
    from credit_reports.report.parameter_text import parse_value

    return parse_value(text)


def _settings(args: argparse.Namespace) -> Any:
    """The config file's settings (reports, exports, mail, alerts), or the defaults without one."""
    from credit_reports.delivery.config import find_config, load_settings

    return load_settings(find_config(args.config))


def _report_specs(args: argparse.Namespace, settings: Any = None) -> list[Any]:
    """The reports to render: --notebook alone, else the config file's, else the default; -p applies to all."""
    from credit_reports.delivery.config import DEFAULT_REPORT_NAME, ReportSpec

    extra = {name: _parse_value(value) for name, value in args.parameter}
    if args.notebook:
        specs = [ReportSpec(name=args.name or DEFAULT_REPORT_NAME, notebook=args.notebook)]
    else:
        specs = (settings or _settings(args)).reports
    pdf = bool(getattr(args, "pdf", False))
    return [
        ReportSpec(name=s.name, notebook=s.notebook, parameters={**s.parameters, **extra}, pdf=s.pdf or pdf)
        for s in specs
    ]


def _requested_snapshot(option: str | None, spec: Any) -> str:
    """The snapshot a report asks for: ``--snapshot``, else its ``snapshot`` parameter, else latest.

    When both are given and differ, which one was meant is unclear: that is bad input, not a guess.
    """
    parameter = spec.parameters.get("snapshot")
    parameter = str(parameter).strip() if parameter not in (None, "") else None
    if option and parameter and parameter != option:
        raise UsageError(
            f"report {spec.name}: --snapshot {option} and its snapshot parameter {parameter} disagree; "
            "give one of them"
        )
    return option or parameter or "latest"


def _requested_environment(option: str | None, spec: Any) -> str | None:
    """The environment a report's snapshot is read from: ``--environment``, else its ``environment``
    parameter, else None (the store's newest); both given and different is bad input, as for --snapshot."""
    parameter = spec.parameters.get("environment")
    parameter = str(parameter).strip() if parameter not in (None, "") else None
    if option and parameter and parameter != option:
        raise UsageError(
            f"report {spec.name}: --environment {option} and its environment parameter {parameter} disagree; "
            "give one of them"
        )
    return option or parameter


def cmd_fetch(args: argparse.Namespace) -> int:
    """Fetch one snapshot and print its folder; exit 3 when some customers could not be fetched."""
    from credit_reports.fetch.snapshot import fetch_snapshot

    client = _client(args)
    snapshot = fetch_snapshot(client, data_dir=_data_dir(args), **_fetch_kwargs(args))
    if args.plans:
        from credit_reports.app.runner import add_renewal_plans

        warnings: list[str] = []
        snapshot = add_renewal_plans(client, snapshot, warnings)
        for warning in warnings:
            say(f"{PROG}: {warning}")
    print(snapshot.path)
    if not snapshot.complete:
        failed = len(snapshot.manifest.get("failed_customer_ids") or [])
        refused = snapshot.manifest.get("refused_at_door") or {}
        if refused:  # permanent: the same answer comes back until Paddle's data changes
            first = next(iter(refused.values()))
            say(f"{PROG}: snapshot is incomplete: {failed} customer(s) failed; {len(refused)} answer(s) refused at "
                f"the door; first: {first}")
        else:
            say(f"{PROG}: snapshot is incomplete: {failed} customer(s) could not be fetched; "
                "run fetch again to complete it")
        return EXIT_INCOMPLETE
    return EXIT_OK


def cmd_render(args: argparse.Namespace) -> int:
    """Render each report from the snapshot it asks for, then rebuild the index; print the HTML paths.

    ``--snapshot`` and a report's ``snapshot`` parameter (from -p or the config) must agree; the
    report's manifest records the snapshot asked for and the one read.
    """
    from credit_reports.app.runner import RunOutcome, render_each
    from credit_reports.delivery.publish import ReportFailedError
    from credit_reports.store.reader import load_snapshot

    data_dir = _data_dir(args)
    from credit_reports.app.runner import resolve_file_parameters

    settings = _settings(args)
    specs = resolve_file_parameters(_report_specs(args, settings))  # relative files: from where you run
    _check_reports(specs, early=False)  # a CSV given as --notebook, a bad value: one line before any work
    requested = {spec.name: _requested_snapshot(args.snapshot, spec) for spec in specs}  # all checked first
    environments = {spec.name: _requested_environment(args.environment, spec) for spec in specs}

    def jobs() -> Iterator[tuple[Any, Any, str]]:
        for spec in specs:  # each snapshot loaded when its report's turn comes
            yield spec, load_snapshot(requested[spec.name], data_dir=data_dir,
                                      environment=environments[spec.name]), requested[spec.name]

    def failed(name: str, exc: BaseException) -> None:
        say(f"{PROG}: report {name} failed: {exc}")

    fallbacks: list[str] = []

    def rendered(result: Any) -> None:
        for warning in result.warnings:
            say(f"{PROG}: {warning}")
        if getattr(result, "fallback", None):
            fallbacks.append(result.fallback)
        print(result.html)

    outcome = RunOutcome()
    render_each(jobs(), data_dir=data_dir, out_dir=args.out, api_key=os.environ.get("PADDLE_API_KEY"),
                settings=settings, outcome=outcome, pdf=args.pdf, tolerate=(ReportFailedError,),
                on_failed=failed, on_rendered=rendered)
    if outcome.failed:
        return EXIT_REPORT_FAILED
    if fallbacks:  # never a silent fallback: one line, and exit 3 (an unusable snapshot, README "Exit codes")
        say(f"{PROG}: {fallbacks[0]}")
        return EXIT_INCOMPLETE
    return EXIT_OK if outcome.snapshot_complete else EXIT_INCOMPLETE


def cmd_run(args: argparse.Namespace) -> int:
    """Fetch then render every configured report under a lock; print the HTML paths."""
    from credit_reports.app.runner import run_reports

    if args.snapshot:
        raise UsageError(f"run reports the snapshot it fetches, so --snapshot {args.snapshot} has no place here; "
                         f"to report a stored snapshot use `{PROG} render --snapshot {args.snapshot}`")
    from credit_reports.app.runner import check_out_dir, resolve_file_parameters

    settings = _settings(args)
    specs = resolve_file_parameters(_report_specs(args, settings))  # relative files: from where you run
    _check_reports(specs)  # a typo in the config costs no API call
    check_out_dir(args.out)  # a read-only --out costs no API call either
    mail = None if args.no_mail else settings.mail
    if mail is not None:
        from credit_reports.delivery.mail import check_password

        check_password(mail)  # a missing password variable is found before the fetch, not after
    outcome = run_reports(
        reports=specs,
        data_dir=_data_dir(args),
        out_dir=args.out,
        fetch_kwargs=_fetch_kwargs(args),
        client=_client(args),
        api_key=os.environ.get("PADDLE_API_KEY"),
        settings=settings,
        mail=mail,
        attention_exit_code=args.attention_exit_code,
        renewal_plans=not args.no_plans,
    )
    for html in outcome.rendered:
        print(html)
    if not outcome.snapshot_complete:
        say(f"{PROG}: reports were rendered from an incomplete snapshot: run again to complete it")
    for name, why in outcome.failed.items():
        say(f"{PROG}: report {name} failed ({why}); the last good one stays published")
    for warning in outcome.warnings:
        say(f"{PROG}: {warning}")
    for name, why in outcome.mail_failed.items():
        say(f"{PROG}: report {name} is published but was not emailed: {why}")
    _prune(args)
    if outcome.exit_code in (EXIT_OK, args.attention_exit_code):
        say(run_summary(outcome))
    return outcome.exit_code


def run_summary(outcome: Any) -> str:
    """The one line a successful run leaves in the log, ``--quiet`` or not: the snapshot, each report
    published (and emailed) and the exit code, so a cron log shows every run, not only the failed ones."""
    snapshot = outcome.snapshot_path
    where = f"{snapshot.parent.name}/{snapshot.name}" if snapshot is not None else "none"
    state = "complete" if outcome.snapshot_complete else "incomplete"
    reports = ", ".join(str(p) for p in outcome.rendered) or "none"
    mailed = f"; emailed {len(outcome.emailed)}" if outcome.emailed else ""
    attention = getattr(outcome, "attention_summary", lambda: "")()
    status = f"; ATTENTION: {attention}" if attention else "; ready to sign"
    return (f"{PROG}: run done, exit {outcome.exit_code}: snapshot {where} ({state}); "
            f"{len(outcome.rendered)} report(s): {reports}{mailed}{status}")


def _check_reports(specs: list[Any], early: bool = True) -> None:
    """Resolve every report's notebook and check its parameter names and values before anything is fetched.

    Values are checked without data: the report's own validation (``report_parameters.Parameters.check``) for the
    parameters it takes, the notebook's declared type (``name: int = ...``) for the others. Checks that
    need the snapshot (an unknown currency, a missing as-of) wait for it. ``early`` (``run``): the snapshot,
    environment and data folder are pinned by the fetch, so they are not checked here, and a report pinned
    to another snapshot is refused (it belongs to ``render --snapshot``).
    """
    from credit_reports.delivery.render import check_parameter_names, notebook_parameters, resolve_notebook

    for spec in specs:
        pinned = spec.parameters.get("snapshot")
        if early and pinned not in (None, "", "latest"):
            raise UsageError(
                f"report {spec.name} asks for snapshot {pinned}, but run reports the snapshot it fetches: "
                "remove the snapshot parameter, or use `credit-reports render --snapshot`"
            )
        path = resolve_notebook(spec.notebook)
        if path.suffix.lower() != ".ipynb":
            raise UsageError(f"notebook {spec.notebook} is not a Jupyter notebook (.ipynb): give a report notebook")
        try:
            declared = notebook_parameters(path)
        except Exception as exc:  # nbformat/JSON errors: a file that is not a notebook
            text = " ".join(str(exc).split())[:120]
            raise UsageError(f"notebook {spec.notebook} cannot be read as a Jupyter notebook ({text})") from None
        check_parameter_names(spec.parameters, declared, str(spec.notebook))
        _check_values(spec, declared, early)


_DECLARED_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,), "float": (int, float), "str": (str,), "bool": (bool,), "list": (list, tuple), "dict": (dict,),
}


def _check_values(spec: Any, declared: dict[str, Any], early: bool) -> None:
    """Data-independent checks of the parameter values of one report; UsageError naming the first bad one."""
    from credit_reports.report.parameters import Parameters, parameter_names

    accepted = set(parameter_names())
    pinned = {"data_dir", "snapshot", "environment"} if early else {"data_dir"}
    values = {k: v for k, v in spec.parameters.items() if k in accepted and k not in pinned}
    if values and accepted & set(declared):
        Parameters.check(**values)
    for name, value in spec.parameters.items():
        if name in accepted:
            continue
        kind = str((declared.get(name) or {}).get("inferred_type_name") or "")
        allowed = _DECLARED_TYPES.get(kind)
        if allowed is None or value is None:
            continue
        wrong = isinstance(value, bool) and bool not in allowed
        if wrong or not isinstance(value, allowed):
            raise UsageError(
                f"parameter {name} of {spec.notebook} is declared {kind}, but {value!r} is a {type(value).__name__}"
            )


def _prune(args: argparse.Namespace) -> list[Path]:
    """Apply --keep / --keep-days, print each snapshot folder deleted; nothing when neither is given."""
    from credit_reports.store.reader import prune_snapshots

    if args.keep is None and args.keep_days is None:
        return []
    removed = prune_snapshots(
        _data_dir(args), getattr(args, "environment", None), keep=args.keep, older_than_days=args.keep_days
    )
    for path in removed:
        say(f"{PROG}: pruned {path}")
    return removed


def cmd_snapshots(args: argparse.Namespace) -> int:
    """Print the stored snapshots, oldest first (after --keep / --keep-days pruning, if asked).

    Unusable snapshots (see ``store.Snapshot.problem``) are listed with ``usable`` False and one line each
    on stderr saying why. ``--check`` reads every file in full instead and exits 3 if any is unusable.
    """
    from credit_reports.store.reader import check_snapshots, list_snapshots

    _prune(args)
    if args.check:
        results = check_snapshots(_data_dir(args), environment=args.environment)
        for folder, problem in results:
            print(f"ok        {folder}" if problem is None else f"UNUSABLE  {folder}: {problem}")
        if not results:
            say(f"{PROG}: no snapshots in {_data_dir(args)}: run `{PROG} fetch` first")
        return EXIT_INCOMPLETE if any(problem for _, problem in results) else EXIT_OK
    store_log = logging.getLogger("credit_reports.store")
    level = store_log.level
    store_log.setLevel(logging.ERROR)  # the unusable ones are printed below, once each
    try:
        table = list_snapshots(_data_dir(args), environment=args.environment)
    finally:
        store_log.setLevel(level)
    if table.empty:
        say(f"{PROG}: no snapshots in {_data_dir(args)}: run `{PROG} fetch` first")
        return EXIT_OK
    print(table.drop(columns=["path", "problem"], errors="ignore").to_string(index=False))
    for row in table[~table["usable"]].itertuples():
        say(f"{PROG}: unusable snapshot {row.path}: {row.problem}")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """Simulator -> snapshot -> account moves on -> second snapshot -> report; prints the HTML path."""
    from credit_reports.app.demo import run_demo

    html = run_demo(out_dir=args.out, data_dir=args.data_dir, customers=args.customers, seed=args.seed,
                    progress=not args.quiet)
    print(html)
    return EXIT_OK


def cmd_simulator(args: argparse.Namespace) -> int:
    """Serve the simulator in the foreground; print how to point the toolkit at it."""
    from credit_reports.paddle.client import is_loopback
    from credit_reports.simulator import CURRENT_PADDLE, Simulator
    from credit_reports.simulator.mover import live_step

    if not args.allow_remote and not is_loopback(args.host):
        raise UsageError(
            f"--host {args.host} is not a loopback address: the simulator serves a demo key to anyone; "
            "bind 127.0.0.1, or add --allow-remote if you really mean to expose it"
        )
    sim = Simulator(
        customers=args.customers,
        seed=args.seed,
        rpm=args.rpm,
        window_seconds=args.window_seconds,
        block_seconds=args.block_seconds,
        latency_ms=args.latency_ms,
        host=args.host,
        port=args.port,
        event_lag_ms=_non_negative_lag(args.event_lag_ms),
        **CURRENT_PADDLE,  # a live account behaves as current Paddle does (billed renewals, transfers, ...)
    )
    sim.start()
    for kind, count in args.fault:
        sim.inject(kind, count=count)
    for line in simulator_banner(sim.base_url, sim.api_key, args):
        print(line)
    sys.stdout.flush()
    stop = threading.Event()
    if args.advance_every:
        sim.start_moving(args.advance_every, step=live_step(args.customers), on_move=_print_move)
    try:
        while not stop.wait(3600):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return EXIT_OK


def _non_negative_lag(value: int) -> int:
    """``--event-lag-ms``: a whole number of ms, 0 or more (bad input: one line, exit code 2)."""
    if value < 0:
        raise UsageError(f"--event-lag-ms must be 0 or more, not {value}")
    return value


#: A fetch against the local simulator: no Paddle limit applies, so far above Paddle's 240 a minute.
LOCAL_MAX_RPM = 6000


def simulator_banner(base_url: str, api_key: str, args: argparse.Namespace) -> list[str]:
    """What ``credit-reports simulator`` prints: where it serves and a fetch command that works as is."""
    rpm = args.rpm or LOCAL_MAX_RPM  # a simulated limit (--rpm) is the one the fetch must respect
    lines = [
        f"Paddle simulator on {base_url} ({args.customers} customers, seed {args.seed})",
        f"  export PADDLE_API_KEY={api_key}   # the simulator's own demo key, not a Paddle key",
        f"  {this_command()} fetch --base-url {base_url} --max-rpm {rpm}",
    ]
    if args.advance_every:
        lines.append(f"  the account moves on every {args.advance_every:g} s: fetch twice for a roll-forward")
    else:
        lines.append("  the account stands still; add --advance-every SECONDS to move it on while serving")
    return lines


def this_command() -> str:
    """How to run this credit-reports again from this shell, so a printed command pastes as is: ``credit-reports``
    when that is the one on PATH, else the running console script's path (relative inside the working folder,
    e.g. ``.venv/bin/credit-reports``), else ``python -m credit_reports.app.cli`` with this interpreter."""
    script = Path(sys.argv[0])
    if script.name != PROG or not script.is_file():
        return f"{shlex.quote(sys.executable)} -m credit_reports.app.cli"
    on_path = shutil.which(PROG)
    if on_path and Path(on_path).resolve() == script.resolve():
        return PROG
    full = script.absolute()
    return shlex.quote(str(full.relative_to(Path.cwd()) if full.is_relative_to(Path.cwd()) else full))


def _print_move(move: Any) -> None:
    """One line per ``--advance-every`` step: how many customers' balances it changed."""
    print(f"  account moved on (step {move.number}): {len(move.changes['changed_customer_ids'])} customers changed",
          flush=True)


def _configure_logging(verbose: int) -> None:
    """Log lines go to stderr, each stamped in UTC (:mod:`credit_reports.core.logs`); -v for progress detail
    and retries, -vv for every request. ``--quiet`` reaches each command as ``progress=False``, never
    through TQDM_DISABLE, which would silence every later bar of the process."""
    logs.configure(verbose)


def _fail(message: str, code: int) -> int:
    """One line on stderr, the given exit code."""
    say(f"{PROG}: error: {message}")
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except CreditReportsError as exc:  # each error class names its exit code (errors.py, the table above)
        return _fail(str(exc), exc.exit_code)
    except OSError as exc:
        return _fail(_os_error_line(exc), EXIT_USAGE)
    except KeyboardInterrupt:
        return _fail("interrupted; a fetch resumes where it stopped when run again", 130)
    except Exception as exc:  # a bug or data we did not foresee: still one line; -vv shows the traceback
        log.debug("unexpected error", exc_info=True)
        text = " ".join(str(exc).split())[:200]
        return _fail(f"unexpected {type(exc).__name__}: {text} (run with -vv for the details)", EXIT_REPORT_FAILED)


def _os_error_line(exc: OSError) -> str:
    """One line for a file-system error, always naming a path (the data folder when the OS named none)."""
    import errno

    from credit_reports.core.redact import redact

    where = f" {exc.filename}" if exc.filename else ""
    if exc.errno == errno.ENOSPC:
        return redact(f"no space left on the device{where or ' (path not reported)'}; free some space and run "
                      "again (an interrupted fetch resumes)")
    return redact(f"cannot use{where}: {exc.strerror or exc}; check the path and its permissions")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
