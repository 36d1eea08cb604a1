"""One account per chain (issue 23 point 5): every snapshot records the Paddle account it was read from, and
snapshots of two accounts are never mixed: fetch, render, compare and roll_forward refuse in one line that
names both. Two simulators with different seeds are two accounts; expected ids come from their ledgers."""

from __future__ import annotations

import pytest
from clients import client_for

from credit_reports.core.errors import UsageError
from credit_reports.fetch.snapshot import fetch_snapshot
from credit_reports.figures.comparison import compare
from credit_reports.figures.metrics import roll_forward


def _client(sim):
    return client_for(sim)


def _oldest_customer(sim) -> str:
    """The simulator's oldest customer id, from its own ledger (every customer, archived too)."""
    return min(c["id"] for c in sim.account.customers)


def test_a_snapshot_records_the_account_and_a_second_account_is_refused_naming_both(make_sim, tmp_path):
    one, two = make_sim(customers=40, seed=1), make_sim(customers=40, seed=2)
    first = fetch_snapshot(_client(one), data_dir=tmp_path / "data", progress=False)
    account = first.manifest["account"]
    assert account["identity"] == _oldest_customer(one)
    assert account["base_url"] == one.base_url and account["environment"] == first.environment
    again = fetch_snapshot(_client(one), data_dir=tmp_path / "data", progress=False)  # the same account: fine
    assert again.manifest["account"]["identity"] == account["identity"]
    with pytest.raises(UsageError) as refused:
        fetch_snapshot(_client(two), data_dir=tmp_path / "data", progress=False)
    line = str(refused.value)
    assert "\n" not in line and _oldest_customer(one) in line and _oldest_customer(two) in line
    other = fetch_snapshot(_client(two), data_dir=tmp_path / "other", progress=False)
    with pytest.raises(UsageError, match="two Paddle accounts"):
        compare(first, other)
    with pytest.raises(UsageError, match="two Paddle accounts"):
        roll_forward(first, other)
    assert len(compare(first, again))  # one account: compared as before


def test_render_refuses_a_chain_that_holds_two_accounts_before_any_kernel_starts(make_sim, tmp_path, capsys):
    import shutil

    from credit_reports.app.cli import main

    one, two = make_sim(customers=30, seed=3), make_sim(customers=30, seed=4)
    first = fetch_snapshot(_client(one), data_dir=tmp_path / "data", progress=False)
    other = fetch_snapshot(_client(two), data_dir=tmp_path / "other", progress=False)
    shutil.copytree(other.path, first.path.parent / other.path.name)  # a folder copied in by hand
    code = main(["--quiet", "render", "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "reports")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert _oldest_customer(one) in err[0] and _oldest_customer(two) in err[0]
    assert not (tmp_path / "reports").exists() or not list((tmp_path / "reports").rglob("*.html"))


def test_run_refuses_a_key_of_another_account_than_paddle_account_names_before_fetching(make_sim, tmp_path, capsys,
                                                                                        monkeypatch):
    from credit_reports.app.cli import main

    one, two = make_sim(customers=20, seed=5), make_sim(customers=20, seed=6)
    config = tmp_path / "credit-reports.toml"
    config.write_text(f"[[report]]\nname = 'x'\n[paddle]\naccount = '{_oldest_customer(one)}'\n", encoding="utf-8")
    monkeypatch.setenv("PADDLE_API_KEY", two.api_key)
    code = main(["--quiet", "run", "--base-url", two.base_url, "--data-dir", str(tmp_path / "data"), "--out",
                 str(tmp_path / "reports"), "--config", str(config), "--no-mail"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and _oldest_customer(one) in err[0] and _oldest_customer(two) in err[0]
    assert set(two.stats["by_path"]) == {"/customers"}  # the one identity call, nothing fetched
    assert not (tmp_path / "data" / "snapshots").exists()
