"""The command line: each kind of bad input is one clear line and exit 2; fetch prints its folder."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from credit_reports.app.cli import main


def closed_port() -> int:
    """A loopback port nothing listens on (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err: str, *needles: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_fetch_without_a_key_names_PADDLE_API_KEY_and_exits_2(tmp_path: Path, capsys) -> None:
    code, out, err = run_cli(capsys, "--quiet", "fetch", "--data-dir", str(tmp_path))
    assert code == 2
    assert out == ""
    assert_one_line_error(err, "PADDLE_API_KEY")


@pytest.mark.parametrize("command", ["fetch", "history"])
def test_the_missing_key_error_names_every_read_permission_paddle_has_for_the_reads(
    tmp_path: Path, capsys, command: str
) -> None:
    """The permissions come from the simulator (Paddle's side), not from the list the message is built from."""
    from credit_reports.simulator.server import ALL_PERMISSIONS

    code, _, err = run_cli(capsys, "--quiet", command, "--data-dir", str(tmp_path))
    assert code == 2
    assert_one_line_error(err, "PADDLE_API_KEY", *sorted(ALL_PERMISSIONS))


def test_an_unknown_environment_is_refused_with_the_valid_ones(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("PADDLE_API_KEY", "pdl_sdbx_apikey_01234567890123456789012345_abc")
    monkeypatch.setenv("PADDLE_ENVIRONMENT", "staging")
    code, _, err = run_cli(capsys, "--quiet", "fetch", "--data-dir", str(tmp_path))
    assert code == 2
    assert_one_line_error(err, "staging", "sandbox", "production")


def test_an_unreachable_base_url_exits_5_naming_it(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("PADDLE_API_KEY", "pdl_sdbx_apikey_01234567890123456789012345_abc")
    url = f"http://127.0.0.1:{closed_port()}"
    code, _, err = run_cli(capsys, "--quiet", "fetch", "--base-url", url, "--data-dir", str(tmp_path))
    assert code == 5
    assert_one_line_error(err, url)
    assert not list(tmp_path.glob("snapshots/*/2*")), "nothing may be published after a failed fetch"


def test_a_refused_key_of_the_right_environment_says_revoked_expired_or_mistyped(tmp_path, capsys, monkeypatch,
                                                                                 make_sim) -> None:
    sim = make_sim(customers=20)
    wrong = "pdl_sdbx_apikey_01zzzzzzzzzzzzzzzzzzzzzzzz_wrongkey"
    monkeypatch.setenv("PADDLE_API_KEY", wrong)
    code, _, err = run_cli(
        capsys, "--quiet", "fetch", "--base-url", sim.base_url, "--environment", "sandbox", "--data-dir", str(tmp_path)
    )
    assert code == 2
    assert_one_line_error(err, "sandbox", "revoked, expired or mistyped")
    assert "looks like" not in err and wrong not in err


def test_fetch_prints_the_snapshot_folder_it_wrote(tmp_path, capsys, monkeypatch, make_sim) -> None:
    sim = make_sim(customers=60)
    monkeypatch.setenv("PADDLE_API_KEY", sim.api_key)
    code, out, err = run_cli(
        capsys, "--quiet", "fetch", "--base-url", sim.base_url, "--max-rpm", "6000", "--data-dir", str(tmp_path)
    )
    assert code == 0, err
    folder = Path(out.strip())
    assert folder.parent.parent == tmp_path / "snapshots"
    assert {p.name for p in folder.iterdir()} >= {"balances.parquet", "customers.parquet", "manifest.json"}
    for written in folder.iterdir():
        assert sim.api_key.encode() not in written.read_bytes()


def test_fetch_exits_3_when_a_customer_fails_and_0_once_a_rerun_completes_it(
    tmp_path, capsys, monkeypatch, make_sim
) -> None:
    sim = make_sim(customers=60)
    credited = sorted({row["customer_id"] for row in sim.account.expected_balances()})
    sim.fail_customer(credited[0], status=500)
    monkeypatch.setenv("PADDLE_API_KEY", sim.api_key)
    args = ("--quiet", "fetch", "--base-url", sim.base_url, "--max-rpm", "6000", "--data-dir", str(tmp_path))
    code, out, err = run_cli(capsys, *args)
    assert code == 3
    assert "incomplete" in err and "fetch again" in err
    assert Path(out.strip()).is_dir(), "an incomplete snapshot is still published, marked incomplete"
    sim.clear_faults()
    code, _, err = run_cli(capsys, *args)
    assert code == 0, err


def test_render_of_a_snapshot_that_does_not_exist_exits_2(tmp_path, capsys) -> None:
    code, out, err = run_cli(capsys, "render", "--data-dir", str(tmp_path), "--snapshot", "20200101T000000Z")
    assert code == 2
    assert_one_line_error(err, "20200101T000000Z")


def test_bad_command_line_arguments_exit_2_with_one_line(capsys) -> None:
    with pytest.raises(SystemExit) as excinfo:
        main(["fetch", "--max-rpm", "zero"])
    assert excinfo.value.code == 2
    _, err = capsys.readouterr()
    assert "--max-rpm" in err and "Traceback" not in err


def test_the_console_script_prints_no_traceback_on_bad_input(tmp_path: Path, repo_root: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PADDLE_")}
    script = Path(sys.executable).parent / "credit-reports"
    result = subprocess.run(
        [str(script), "--quiet", "fetch", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=60, cwd=repo_root,
    )
    assert result.returncode == 2
    assert_one_line_error(result.stderr, "PADDLE_API_KEY")


def test_an_unusable_data_folder_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch, make_sim) -> None:
    sim = make_sim(customers=10)
    monkeypatch.setenv("PADDLE_API_KEY", sim.api_key)
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    code, _, err = run_cli(
        capsys, "--quiet", "fetch", "--base-url", sim.base_url, "--data-dir", str(not_a_folder / "data")
    )
    assert code == 2
    assert_one_line_error(err, str(not_a_folder))


@pytest.mark.slow
def test_snapshots_keep_prunes_old_snapshots_but_never_the_newest(tmp_path, capsys, monkeypatch, make_sim) -> None:
    sim = make_sim(customers=30)
    monkeypatch.setenv("PADDLE_API_KEY", sim.api_key)
    fetch = ("--quiet", "fetch", "--base-url", sim.base_url, "--max-rpm", "6000", "--data-dir", str(tmp_path))
    folders = []
    for _ in range(3):
        code, out, _ = run_cli(capsys, *fetch)
        assert code == 0
        folders.append(Path(out.strip()))
    code, out, err = run_cli(capsys, "snapshots", "--data-dir", str(tmp_path), "--keep", "1")
    assert code == 0
    assert [p.exists() for p in folders] == [False, False, True]
    assert err.count("pruned") == 2


def test_the_simulator_command_serves_and_injects_the_faults_asked_for(tmp_path: Path) -> None:
    import requests

    script = Path(sys.executable).parent / "credit-reports"
    proc = subprocess.Popen(
        [str(script), "simulator", "--port", "0", "--customers", "20", "--fault", "503:2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        first = proc.stdout.readline()
        key_line = proc.stdout.readline()
        url = first.split(" on ")[1].split()[0]
        key = key_line.split("PADDLE_API_KEY=")[1].split()[0]
        headers = {"Authorization": f"Bearer {key}"}
        codes = [requests.get(f"{url}/customers", headers=headers, timeout=10).status_code for _ in range(3)]
        assert codes == [503, 503, 200]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# -- the exit-code table, case by case (README "Exit codes") ---------------------------------------------


class _NoWaitTime:
    """The paddle module's clock with backoff sleeps made instant: retries are real, their waits are not."""

    monotonic = staticmethod(time.monotonic)
    time = staticmethod(time.time)

    @staticmethod
    def sleep(seconds: float) -> None:
        return None


@pytest.mark.parametrize("fault", ["500", "503", "522", "429", "drop", "malformed"])
def test_paddle_failing_on_the_first_call_after_every_retry_exits_5(tmp_path, capsys, monkeypatch, make_sim, fault):
    import credit_reports.paddle.client as paddle_module

    sim = make_sim(customers=10)
    sim.inject(fault, count=50, retry_after=0)
    monkeypatch.setenv("PADDLE_API_KEY", sim.api_key)
    monkeypatch.setattr(paddle_module, "time", _NoWaitTime)
    code, out, err = run_cli(capsys, "--quiet", "fetch", "--base-url", sim.base_url, "--max-rpm", "100000",
                             "--data-dir", str(tmp_path))
    assert code == 5, err
    assert out == ""
    assert_one_line_error(err, sim.base_url, "5 attempts")
    assert sim.stats["requests"] == 5
    assert not list(tmp_path.glob("snapshots/*/2*")), "nothing is published"


def test_run_refuses_a_bad_parameter_value_before_any_api_call(tmp_path, capsys, monkeypatch, make_sim) -> None:
    sim = make_sim(customers=10)
    monkeypatch.setenv("PADDLE_API_KEY", sim.api_key)
    for name, value, needle in [("min_cohort_size", "0", "min_cohort_size"), ("cohort", "nonsense", "cohort"),
                                ("currencies", "[US-DOLLAR]", "currencies")]:
        code, _, err = run_cli(capsys, "--quiet", "run", "--base-url", sim.base_url, "--data-dir",
                               str(tmp_path / "data"), "--out", str(tmp_path / "reports"), "-p", name, value)
        assert code == 2, (name, err)
        assert_one_line_error(err, needle)
    assert sim.stats["requests"] == 0


def test_a_value_of_the_wrong_declared_type_is_refused_before_any_api_call(tmp_path, capsys, monkeypatch,
                                                                           make_sim) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("limit: int = 3  # how many", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("print(limit)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, path)
    sim = make_sim(customers=10)
    monkeypatch.setenv("PADDLE_API_KEY", sim.api_key)
    code, _, err = run_cli(capsys, "--quiet", "run", "--base-url", sim.base_url, "--data-dir", str(tmp_path / "d"),
                           "--notebook", str(path), "-p", "limit", "many")
    assert code == 2
    assert_one_line_error(err, "limit", "int")
    assert sim.stats["requests"] == 0


@pytest.mark.parametrize("command", ["run", "render"])
def test_a_csv_given_as_notebook_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch, command) -> None:
    monkeypatch.setenv("PADDLE_API_KEY", "pdl_sdbx_apikey_01234567890123456789012345_abc")
    csv = tmp_path / "customers.csv"
    csv.write_text("customer_id,cohort\nctm_1,a\n")
    extra = ["--base-url", "http://127.0.0.1:9"] if command == "run" else []
    code, _, err = run_cli(capsys, "--quiet", command, *extra, "--data-dir", str(tmp_path), "--notebook", str(csv))
    assert code == 2
    assert_one_line_error(err, "customers.csv", "notebook")


@pytest.mark.parametrize("argv, needle", [
    (["fetch", "--max-rpm", "1000000000000"], "--max-rpm"),
    (["simulator", "--port", "-1"], "--port"),
    (["simulator", "--port", "70000"], "--port"),
])
def test_out_of_range_numbers_are_one_line_and_exit_2(capsys, argv, needle) -> None:
    with pytest.raises(SystemExit) as excinfo:
        main(argv)
    assert excinfo.value.code == 2
    _, err = capsys.readouterr()
    assert_one_line_error(err, needle)


def test_the_simulator_refuses_a_non_loopback_host_unless_allowed(capsys) -> None:
    code, out, err = run_cli(capsys, "simulator", "--host", "0.0.0.0", "--port", "0")
    assert code == 2 and out == ""
    assert_one_line_error(err, "0.0.0.0", "--allow-remote")


def test_a_full_disk_is_exit_2_naming_the_file(tmp_path, capsys) -> None:
    from credit_reports.core.errors import StoreError
    from credit_reports.store.files import write_json_atomic

    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    (tmp_path / ".manifest.json.tmp").symlink_to("/dev/full")  # every write there: ENOSPC
    with pytest.raises(StoreError) as caught:
        write_json_atomic(tmp_path / "manifest.json", {"a": 1})
    assert str(tmp_path / "manifest.json") in str(caught.value) and "no space" in str(caught.value)
    # and an ENOSPC that escapes elsewhere is still one line, exit 2, with a path when the OS gave one
    from credit_reports.app.cli import _os_error_line

    assert "no space left" in _os_error_line(OSError(28, "No space left on device", "/data/x"))


@pytest.mark.slow
def test_the_simulator_banner_fetch_command_works_and_advance_every_moves_the_account(tmp_path: Path) -> None:
    """Run the banner's fetch command as printed, twice: the second snapshot shows a real roll-forward."""
    import shlex

    from credit_reports.figures import metrics
    from credit_reports.store.reader import Snapshot

    script = Path(sys.executable).parent / "credit-reports"
    proc = subprocess.Popen(
        [str(script), "simulator", "--port", "0", "--customers", "80", "--advance-every", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        banner = [proc.stdout.readline() for _ in range(4)]
        key = banner[1].split("PADDLE_API_KEY=")[1].split()[0]
        command = shlex.split(banner[2].strip())
        # the program as printed is this very console script, whether or not .venv/bin is on PATH
        assert Path(shutil.which(command[0]) or command[0]).resolve() == script.resolve(), banner[2]
        assert command[1] == "fetch" and "--max-rpm" in command and "--base-url" in command
        assert int(command[command.index("--max-rpm") + 1]) > 240  # local speed, not Paddle's limit
        assert "moves on every 1 s" in banner[3]
        env = {**os.environ, "PADDLE_API_KEY": key}
        folders = []
        for _ in range(2):
            done = subprocess.run([command[0], "--quiet", *command[1:], "--data-dir", str(tmp_path)],
                                  capture_output=True, text=True, env=env, timeout=120)
            assert done.returncode == 0, done.stderr
            folders.append(Path(done.stdout.strip().splitlines()[-1]))
            time.sleep(2.2)  # at least one advance step, and a new as-of second
        assert "account moved on" in proc.stdout.readline()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    old, new = (Snapshot.from_path(f) for f in folders)
    roll = metrics.roll_forward(old, new)
    assert (roll["issued"] != 0).any() or (roll["used"] != 0).any(), roll
