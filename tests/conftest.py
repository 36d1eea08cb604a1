"""Shared fixtures: paths, the local Paddle simulator, and keeping a developer's real key out of tests."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from credit_reports.core.retries import RetryPolicy
from credit_reports.simulator import Simulator

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _no_real_paddle_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may see the developer's PADDLE_API_KEY or PADDLE_ENVIRONMENT (tests set their own)."""
    monkeypatch.delenv("PADDLE_API_KEY", raising=False)
    monkeypatch.delenv("PADDLE_ENVIRONMENT", raising=False)


#: Back-off defaults while testing: a retry still happens and still waits (jittered, doubling, capped),
#: but for milliseconds, so no test sleeps through production back-off (0.5 s doubling to 30 s).
TEST_BACKOFF = {"base": 0.01, "cap": 0.05}


@pytest.fixture(autouse=True)
def _short_retry_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ``RetryPolicy`` built without an explicit ``base``/``cap`` uses :data:`TEST_BACKOFF`.

    Only the defaults change (a policy a test builds with its own values keeps them), so the client's
    real retry loop runs unmocked; a server's ``Retry-After`` is still honoured as sent.
    """
    init = RetryPolicy.__init__
    names = [p.name for p in inspect.signature(init).parameters.values()
             if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD][1:]  # without self
    defaults = list(init.__defaults__ or ())
    first = len(names) - len(defaults)
    for index, name in enumerate(names[first:]):
        if name in TEST_BACKOFF:
            defaults[index] = TEST_BACKOFF[name]
    monkeypatch.setattr(init, "__defaults__", tuple(defaults))
    keyword = dict(init.__kwdefaults__ or {})
    if any(name in keyword for name in TEST_BACKOFF):
        monkeypatch.setattr(init, "__kwdefaults__", {**keyword, **{k: v for k, v in TEST_BACKOFF.items()
                                                                   if k in keyword}})


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository checkout."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the checkout (Paddle's spec and examples); CI puts it there too."""
    path = REPO_ROOT.parent / "shared"
    if not path.is_dir():
        pytest.fail(f"{path} is missing: the shared reference folder must sit beside the checkout")
    return path


@pytest.fixture(scope="session")
def sim() -> Iterator[Simulator]:
    """A started simulator shared by the session (300 customers, seed 11, no rate limit, no latency).

    Read-only by convention: never advance it or inject faults into it; use ``make_sim`` for that.
    """
    simulator = Simulator(customers=300, seed=11).start()
    yield simulator
    simulator.stop()


@pytest.fixture
def make_sim() -> Iterator[Callable[..., Simulator]]:
    """A factory for a private started simulator (default 200 customers), stopped after the test."""
    started: list[Simulator] = []

    def factory(**kwargs: Any) -> Simulator:
        kwargs.setdefault("customers", 200)
        simulator = Simulator(**kwargs).start()
        started.append(simulator)
        return simulator

    yield factory
    for simulator in started:
        simulator.stop()


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A read-only store as ``make report`` leaves it, small: a first fetch, then eleven incremental
    month-end snapshots of 30 simulated customers (about 2 s). ``data`` is its folder, ``snap`` the newest."""
    from credit_reports.app.demo import take_demo_snapshots

    data = tmp_path_factory.mktemp("small-demo") / "data"
    newest = take_demo_snapshots(data, customers=30, seed=7, progress=False)
    return {"data": data, "snap": newest}
