"""Logging in again when an identity's credentials die mid-burst, and not when an operation
refuses them: through the real ScopedClient and AuthManager against the login lab, whose tokens
stop working after TOKEN_USES requests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from firebrick.auth.manager import AuthManager, start_auth
from firebrick.http import ScopedClient
from firebrick.lab.reach_lab import TOKEN_USES, ReachLab, serve_reach
from firebrick.options import ScanOptions

NOTE = "GET /api/notes/{note_id}"


@pytest.fixture
def lab() -> Iterator[ReachLab]:
    served = serve_reach("login", "vulnerable")
    yield served
    served.stop()


async def logged_in(client: ScopedClient, url: str) -> AuthManager:
    opts = ScanOptions(
        target=url, login="POST /api/login", login_users=[("bob", "bob", "bob-pass-1")]
    )
    manager = await start_auth(client, opts)
    assert manager is not None
    return manager


async def test_a_burst_that_spends_the_fresh_token_logs_in_again(lab: ReachLab) -> None:
    # More requests than a token has uses, all at once: the ones refused after the first token
    # is spent wait on one re-login and resend with the same fresh token, which cannot serve
    # them all either. None of them may come back as "bob is refused".
    async with ScopedClient(lab.url, rate=10_000, concurrency=64) as client:
        manager = await logged_in(client, lab.url)
        answers = await asyncio.gather(
            *(
                client.request("GET", "/api/notes/1", identity="bob", op_key=NOTE)
                for _ in range(3 * TOKEN_USES)
            )
        )
        assert [a.status for a in answers] == [200] * (3 * TOKEN_USES)
        assert manager.relogins()["bob"] >= 2  # the fresh token ran out too: a second login


async def test_an_operation_refusing_fresh_credentials_costs_one_login(lab: ReachLab) -> None:
    # The login operation answers 401 to whatever bob's token is: a real refusal, so one fresh
    # login to find out, and none for the next requests to it.
    async with ScopedClient(lab.url, rate=10_000) as client:
        manager = await logged_in(client, lab.url)
        for _ in range(5):
            refused = await client.request(
                "POST", "/api/login", json={}, identity="bob", op_key="POST /api/login"
            )
            assert refused.status == 401
        assert manager.relogins()["bob"] == 1
        me = await client.request("GET", "/api/me", identity="bob", op_key="GET /api/me")
        assert me.status == 200 and '"bob"' in me.body_text
