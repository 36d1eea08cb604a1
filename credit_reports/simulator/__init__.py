"""A local, Paddle-compatible API server over a deterministic synthetic account.

``Simulator`` serves it over real HTTP on loopback; ``Account`` is the ledger it serves, whose
``expected_balances(at)`` and ``expected_movements(start, end)`` every test can trust;
``DEMO_API_KEY`` is the key it accepts by default; ``CURRENT_PADDLE`` turns on every behaviour of current
Paddle the simulator models (billed renewals, seller credits in ``credit``, transfers, refunds).
"""

from .account import Account
from .behaviours import CURRENT_PADDLE
from .catalog import ANCHOR, REGIME_CHANGE
from .faults import FAULTS
from .server import DEMO_API_KEY, Simulator

__all__ = ["ANCHOR", "CURRENT_PADDLE", "DEMO_API_KEY", "FAULTS", "REGIME_CHANGE", "Account", "Simulator"]
