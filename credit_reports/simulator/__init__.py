"""A local, Paddle-compatible API server over a deterministic synthetic account.

``Simulator`` serves it over real HTTP on loopback; ``Account`` is the ledger it serves, whose
``expected_balances(at)`` and ``expected_movements(start, end)`` every test can trust;
``DEMO_API_KEY`` is the key it accepts by default.
"""

from .account import Account
from .catalog import ANCHOR, REGIME_CHANGE
from .faults import FAULTS
from .server import DEMO_API_KEY, Simulator

__all__ = ["ANCHOR", "DEMO_API_KEY", "FAULTS", "REGIME_CHANGE", "Account", "Simulator"]
