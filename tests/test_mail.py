"""`run` emails each published report through a real SMTP server on loopback (aiosmtpd), started here.

Checked against what a finance lead receives: the recipients, a subject with the title and as-of (and
"Attention:" when an alert fires), the summary figures (equal to the simulator's ledger), the HTML report
and the workbook attached, under the size limit, and neither the SMTP password nor the API key anywhere
in the message. A failed send leaves the report published and exits 6 with one line.
"""

from __future__ import annotations

import email
import email.policy
import re
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ledger import outstanding
from render_demo import two_cell_notebook

pytest.importorskip("aiosmtpd", reason="aiosmtpd (a test dependency) runs the SMTP server")
from aiosmtpd.controller import Controller  # noqa: E402
from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: E402

from credit_reports.app.cli import main  # noqa: E402

PASSWORD = "s3cret-smtp-password-for-tests"
USER = "reports@example.test"
RECIPIENTS = ["finance@example.test", "controller@example.test"]
TINY_PARAMETERS = 'snapshot = "latest"\nenvironment = ""\ndata_dir = ""\ntitle = "Credit for finance"'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Inbox:
    """aiosmtpd handler keeping every message it was given, with its envelope."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                              "raw": bytes(envelope.original_content or envelope.content)})
        return "250 OK"


def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.login.decode() == USER and data.password.decode() == PASSWORD
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the client trusts it through ca_file)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


@pytest.fixture
def smtp(certificate: tuple[Path, Path]) -> Iterator[tuple[Inbox, int]]:
    """A STARTTLS SMTP server with login on loopback; yields its inbox and port."""
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
                            authenticator=authenticate, auth_required=True)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def account(make_sim, monkeypatch):
    sim = make_sim(customers=80, seed=21)
    monkeypatch.setenv("PADDLE_API_KEY", sim.api_key)
    monkeypatch.setenv("TEST_SMTP_PASSWORD", PASSWORD)
    return sim


def config(tmp_path: Path, port: int, ca_file: Path, **mail: Any) -> Path:
    settings = {"host": "127.0.0.1", "port": port, "security": "starttls", "username": USER,
                "password_env": "TEST_SMTP_PASSWORD", "sender": f"Credit reports <{USER}>",
                "recipients": RECIPIENTS, "ca_file": str(ca_file), **mail}
    lines = ["[[report]]", 'name = "finance"', "", "[mail]"]
    for key, value in settings.items():
        lines.append(f"{key} = {value!r}".replace("'", '"') if not isinstance(value, list)
                     else f"{key} = [{', '.join(repr(v).replace(chr(39), chr(34)) for v in value)}]")
    lines += ["", "[alerts]", "outstanding_change_share = 0.000001"]
    path = tmp_path / "credit-reports.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(sim, tmp_path: Path, config_path: Path, capsys) -> tuple[int, str, str]:
    notebook = two_cell_notebook(tmp_path / "finance.ipynb", TINY_PARAMETERS, "print(title)")
    code = main(["--quiet", "run", "--base-url", sim.base_url, "--max-rpm", "100000",
                 "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "reports"),
                 "--config", str(config_path), "--notebook", str(notebook), "--name", "finance"])
    out, err = capsys.readouterr()
    return code, out, err


def digits(text: str) -> int:
    value = int(re.sub(r"[^0-9]", "", text))
    return -value if text.strip().startswith(("-", "−")) else value


def summary_figures(body: str) -> dict[str, tuple[int, int | None]]:
    """{currency: (outstanding, change)} read from the body's per-currency lines."""
    found = {}
    for line in body.splitlines():
        match = re.match(r"^\s+([A-Z]{3}): (.+?)(?:, change (.+?))?(?:, unexplained difference .+)?$", line)
        if match:
            found[match.group(1)] = (digits(match.group(2)), digits(match.group(3)) if match.group(3) else None)
    return found


@pytest.mark.slow
def test_run_emails_the_report_with_figures_that_equal_the_ledger_and_no_secret(
    account, smtp, certificate, tmp_path, capsys
) -> None:
    inbox, port = smtp
    path = config(tmp_path, port, certificate[0])
    code, out, err = run(account, tmp_path, path, capsys)
    assert code == 0, err
    opening = outstanding(account.account.expected_balances())
    account.advance(seed=22, credits=15, reservations=5)  # the store gives the next fetch a new as-of second
    code, out, err = run(account, tmp_path, path, capsys)
    assert code == 7, err  # published and emailed, but outstanding moved past the alert: a scheduler is told
    assert "ATTENTION: finance: outstanding" in err
    closing = outstanding(account.account.expected_balances())
    html = Path(out.split()[0])

    assert len(inbox.messages) == 2
    sent = inbox.messages[-1]
    assert sorted(sent["to"]) == sorted(RECIPIENTS) and sent["from"] == USER
    raw = sent["raw"]
    assert PASSWORD.encode() not in raw and account.api_key.encode() not in raw
    message = email.message_from_bytes(raw, policy=email.policy.default)
    subject = str(message["Subject"])
    assert subject.startswith("Attention: Credit for finance, as of ")  # outstanding moved: the alert fires
    assert "Attention:" not in str(email.message_from_bytes(inbox.messages[0]["raw"],
                                                           policy=email.policy.default)["Subject"])
    body = message.get_body(preferencelist=("plain",)).get_content()
    figures = summary_figures(body)
    assert {code: figure[0] for code, figure in figures.items()} == closing
    for code, (_, change) in figures.items():
        assert change == closing.get(code, 0) - opening.get(code, 0), code
    attachments = {part.get_filename(): part.get_content() for part in message.iter_attachments()}
    assert set(attachments) == {"finance.html", "finance.xlsx"}
    assert attachments["finance.html"].encode("utf-8") == html.read_bytes()
    assert attachments["finance.xlsx"] == html.with_suffix(".xlsx").read_bytes()
    index = (tmp_path / "reports" / "index.html").read_text()
    assert "Attention:" in index


@pytest.mark.slow
def test_attachments_that_would_pass_the_size_limit_are_left_out_and_the_body_says_so(
    account, smtp, certificate, tmp_path, capsys
) -> None:
    inbox, port = smtp
    code, out, err = run(account, tmp_path, config(tmp_path, port, certificate[0], max_message_bytes=20000), capsys)
    assert code == 0, err
    message = email.message_from_bytes(inbox.messages[-1]["raw"], policy=email.policy.default)
    assert len(inbox.messages[-1]["raw"]) <= 20000
    assert [part.get_filename() for part in message.iter_attachments()] == []
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert "finance.html" in body and "size limit" in body


@pytest.mark.slow
def test_a_failed_send_keeps_the_report_published_and_exits_6_with_one_line(
    account, certificate, tmp_path, capsys
) -> None:
    closed = free_port()  # nothing listens there
    code, out, err = run(account, tmp_path, config(tmp_path, closed, certificate[0]), capsys)
    assert code == 6
    html = Path(out.split()[0])
    assert html.is_file()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "not emailed" in lines[0] and "finance" in lines[0]
    assert PASSWORD not in err


def test_a_password_in_the_config_file_is_refused(tmp_path, capsys) -> None:
    path = tmp_path / "credit-reports.toml"
    path.write_text('[[report]]\nname = "x"\n[mail]\nhost = "h"\nsender = "a@b.c"\nrecipients = ["d@e.f"]\n'
                    'password = "hunter2"\n', encoding="utf-8")
    code = main(["render", "--config", str(path), "--data-dir", str(tmp_path)])
    _, err = capsys.readouterr()
    assert code == 2 and "password_env" in err and "hunter2" not in err


def test_a_missing_password_variable_is_found_before_any_api_call(make_sim, certificate, tmp_path, capsys,
                                                                   monkeypatch) -> None:
    sim = make_sim(customers=20)
    monkeypatch.setenv("PADDLE_API_KEY", sim.api_key)
    monkeypatch.delenv("TEST_SMTP_PASSWORD", raising=False)
    code, _, err = run(sim, tmp_path, config(tmp_path, free_port(), certificate[0]), capsys)
    assert code == 2 and "TEST_SMTP_PASSWORD" in err
    assert sim.stats["requests"] == 0


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_implicit_tls_delivers_over_ssl(certificate) -> None:
    """security = "ssl" (port 465 style): TLS from the first byte, the certificate checked against ca_file."""
    from email.message import EmailMessage

    from credit_reports.delivery.config import MailSettings
    from credit_reports.delivery.mail import send_message

    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox, port = Inbox(), free_port()
    # aiosmtpd only counts STARTTLS as TLS; this connection is TLS from the start, so AUTH may be offered
    controller = Controller(inbox, hostname="127.0.0.1", port=port, ssl_context=context,
                            authenticator=authenticate, auth_required=True, auth_require_tls=False)
    controller.start()
    try:
        settings = MailSettings(host="127.0.0.1", port=port, security="ssl", sender=USER, recipients=("a@b.test",),
                                username=USER, password_env="TEST_SMTP_PASSWORD", ca_file=str(cert))
        message = EmailMessage()
        message["Subject"], message["From"], message["To"] = "hello", USER, "a@b.test"
        message.set_content("figures")
        send_message(message, settings, password=PASSWORD)
    finally:
        controller.stop()
    assert [m["to"] for m in inbox.messages] == [["a@b.test"]]
    assert PASSWORD.encode() not in inbox.messages[0]["raw"]


def test_the_subject_is_one_unfolded_line_and_the_html_body_has_a_viewport_and_the_status_first():
    from pathlib import Path

    from credit_reports.delivery.config import MailSettings
    from credit_reports.delivery.mail import build_message

    manifest = {"report": "credit-balances", "title": "Customer credit balances (demo account)",
                "snapshot": {"as_of": "2026-11-30T23:59:59Z", "environment": "sandbox", "name": "x"},
                "headline": {"USD": {"outstanding": 100}}, "roll_forward": None}
    settings = MailSettings(host="smtp.example.com", sender="Reports <r@example.com>", recipients=("f@example.com",))
    message = build_message(manifest, html=Path("missing.html"), xlsx=None, settings=settings,
                            reasons=["reserved check off by -$15.54 (USD): see Roll-forward, reserved check"])
    head = message.as_bytes().decode().split("\n")
    subject = next(line for line in head if line.startswith("Subject:"))
    assert subject.startswith("Subject: Attention: Customer credit balances") and subject.endswith("(sandbox)")
    html = message.get_body(("html",)).get_content()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert html.index("reserved check off") < html.index("<h2")  # the status comes before the title
    text = message.get_body(("plain",)).get_content()
    assert text.startswith("Attention: 1 reason\n")
