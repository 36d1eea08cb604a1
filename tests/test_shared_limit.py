"""Paddle's limit is per IP address: every client of one process shares one budget per API host."""

from __future__ import annotations

import threading

from credit_reports.paddle.client import PaddleClient


def test_two_clients_of_one_process_share_the_limit_and_never_trigger_the_block(make_sim) -> None:
    # The simulator blocks for 5 s after more than 20 requests in any 1 s window; each client alone
    # would pace itself at 20 per second, so two independent limiters would send ~40 and be blocked.
    sim = make_sim(customers=40, rpm=20, window_seconds=1.0, block_seconds=5.0)
    clients = [PaddleClient(api_key=sim.api_key, base_url=sim.base_url, max_rpm=20, rate_window=1.0) for _ in range(2)]
    assert clients[0].limiter is clients[1].limiter
    ids = [c["id"] for c in sim.account.customers][:30]

    def work(client: PaddleClient, part: list[str]) -> None:
        for customer_id in part:
            client.get(f"/customers/{customer_id}/credit-balances")

    threads = [threading.Thread(target=work, args=(c, ids[i::2])) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sim.stats["rate_limited"] == 0
    assert sim.stats["max_in_window"] <= 20
    assert sim.stats["by_path"].get("/customers/{id}/credit-balances", 0) == 30


def test_clients_of_different_hosts_or_limits_keep_their_own_budget(make_sim) -> None:
    first, second = make_sim(customers=5), make_sim(customers=5)
    a = PaddleClient(api_key=first.api_key, base_url=first.base_url, max_rpm=600)
    b = PaddleClient(api_key=second.api_key, base_url=second.base_url, max_rpm=600)
    c = PaddleClient(api_key=first.api_key, base_url=first.base_url, max_rpm=300)
    assert a.limiter is not b.limiter
    assert a.limiter is not c.limiter
