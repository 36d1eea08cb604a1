"""``credit-reports history``: the command line of :mod:`credit_reports.fetch.history` (kept out of cli.py,
which holds the other commands, so neither module outgrows one job)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_parser", "cmd_history"]


def add_parser(sub: Any, add_data_dir: Any, positive_int: Any, rpm: Any) -> None:
    """The ``history`` sub-command and its options."""
    parser = sub.add_parser("history", help="rebuild every customer's credit from day one from Paddle's "
                                            "transactions; tie it out; store reconstructed month ends")
    parser.add_argument("--base-url", help="Paddle-compatible API root; overrides PADDLE_ENVIRONMENT")
    parser.add_argument("--environment", help="production or sandbox (default: $PADDLE_ENVIRONMENT, else production)")
    parser.add_argument("--snapshot", default="latest",
                        help="the fetched snapshot to tie out to (as-of, date or folder; default latest)")
    parser.add_argument("--max-rpm", type=rpm, default=240, help="requests per minute (default 240)")
    parser.add_argument("--workers", type=positive_int, default=2, help="parallel listings (default 2)")
    parser.add_argument("--ids-per-request", type=positive_int, default=None,
                        help="customer ids per /transactions and /adjustments request (default 50)")
    add_data_dir(parser)
    parser.set_defaults(handler=cmd_history)


def cmd_history(args: argparse.Namespace) -> int:
    """Run the history and print the tie-out; customers that do not tie out are listed, one line each."""
    from credit_reports.fetch.history import IDS_PER_REQUEST, run_history
    from credit_reports.paddle.client import PaddleClient

    client = PaddleClient(environment=args.environment, base_url=args.base_url, max_rpm=args.max_rpm)
    try:
        result = run_history(client, args.snapshot, data_dir=args.data_dir,
                             environment=None, ids_per_request=args.ids_per_request or IDS_PER_REQUEST,
                             workers=args.workers, progress=not args.quiet)
    finally:
        client.close()
    s = result.summary
    t = s["tie_out"]
    print(f"{s['source_snapshot']}: {t['tied']} of {t['customers']} customers tie out ({t['rate']:.2%}); "
          f"{s['movements']} movements since {s['first_credit'] or '-'}; {len(result.written)} reconstructed "
          f"month ends; {s['api_calls']} API calls in {s['seconds']:.1f} s")
    for d in t["differences"]:
        print(f"does not tie out: {d['customer_id']} {d['currency_code']}: available {d['available']:+d}, "
              f"reserved {d['reserved']:+d}, used {d['used']:+d} (Paddle minus rebuilt; left out of the "
              "reconstructed month ends)", file=sys.stderr)
    return 0
