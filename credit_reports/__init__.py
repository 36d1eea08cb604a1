"""credit-reports: Paddle Billing customer credit balances as pandas DataFrames and HTML reports."""

__version__ = "0.1.0"
