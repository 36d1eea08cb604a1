"""Options a README reader expects (issue 19, item 6): ``run`` takes every option of ``render``, and
``render`` takes ``--environment``."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from credit_reports.app.cli import _report_specs, build_parser, main


def _options(command: str) -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    return {s for a in sub._actions for s in a.option_strings}


def test_run_takes_every_option_render_takes():
    render, run = _options("render"), _options("run")
    assert {"--pdf", "--environment", "--snapshot", "-p", "--config", "--notebook"} <= render
    assert render <= run, f"render options run refuses: {sorted(render - run)}"


def test_the_readme_command_table_names_every_option_and_each_help_opens_with_its_line(repo_root: Path):
    """A row of the README's Commands table names every option its command's --help shows (``run``'s row says
    it takes every option of fetch and render); ``credit-reports X --help`` starts with X's line of the list."""
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    rows = {line.split("`")[1].split()[0]: line for line in (repo_root / "README.md").read_text().splitlines()
            if line.startswith("| `")}
    inherited = _options("fetch") | _options("render")
    for command, sub in commands.choices.items():
        names = [min(a.option_strings, key=len) for a in sub._actions if a.option_strings and a.dest != "help"]
        missing = [n for n in names if n not in rows[command] and not (command == "run" and n in inherited)]
        assert missing == [], f"README's {command} row lacks {missing}"
    listed = {a.dest: a.help for a in commands._choices_actions}
    for command, sub in commands.choices.items():
        assert sub.description and sub.description.rstrip(".").lower() == listed[command].lower(), command
        assert " ".join(sub.format_help().split("\n\n")[1].split()) == sub.description


def test_run_pdf_asks_every_report_for_a_pdf(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no credit-reports.toml here: the default report
    args = build_parser().parse_args(["run", "--pdf", "--base-url", "http://127.0.0.1:9"])
    assert [s.pdf for s in _report_specs(args)] == [True]
    args = build_parser().parse_args(["run", "--base-url", "http://127.0.0.1:9"])
    assert [s.pdf for s in _report_specs(args)] == [False]


def test_run_snapshot_is_refused_in_one_line_pointing_at_render(tmp_path, capsys):
    code = main(["run", "--snapshot", "20261101T061500Z", "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "render --snapshot 20261101T061500Z" in err


def test_render_environment_picks_the_store_environment_and_an_unknown_one_is_one_line(small_demo, tmp_path,
                                                                                        capsys):
    code = main(["render", "--environment", "sandbox", "--data-dir", str(small_demo["data"]),
                 "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "sandbox" in err and "demo" in err  # what was asked, and what the store holds


def test_render_environment_and_a_disagreeing_parameter_are_refused(small_demo, tmp_path, capsys):
    code = main(["render", "--environment", "demo", "-p", "environment", "sandbox",
                 "--data-dir", str(small_demo["data"]), "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "disagree" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_render_environment_renders_that_environments_snapshot(small_demo, tmp_path, capsys):
    code = main(["--quiet", "render", "--environment", "demo", "--data-dir", str(small_demo["data"]),
                 "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    folder = small_demo["snap"].as_of.strftime("%Y-%m-%dT%H%M%SZ")  # reports/<as-of>/credit-balances.html
    assert out.strip().endswith(f"{folder}/credit-balances.html"), out
