"""AuthManager: every identity of a scan and its current credentials.

Identities come from ``--identity`` (static headers), from login flows (``--login`` with a user
name and password, ``--login-user`` for more users), from OAuth2 client credentials and from
opt-in self-registration. The ScopedClient asks ``headers(who)`` before each request of an
identity, ``ensure_fresh(who)`` logs in again shortly before a known expiry, and ``refresh(who,
generation)`` logs in again after a 401 (at most once per generation of credentials and at most
``max_relogins`` times per identity: a target that refuses fresh credentials is not hammered).
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from firebrick.auth.flows import (
    CHECK,
    Credential,
    LoginFailed,
    LoginSpec,
    OAuth2Spec,
    login,
    oauth2_client_credentials,
)
from firebrick.errors import UsageError

if TYPE_CHECKING:
    from firebrick.http import ScopedClient
    from firebrick.model import Operation, Surface
    from firebrick.options import ScanOptions

Flow = LoginSpec | OAuth2Spec


def secret_value(raw: str) -> str:
    """``env:NAME`` reads the environment (keeps passwords off the command line)."""
    if raw.startswith("env:"):
        name = raw[4:]
        value = os.environ.get(name)
        if value is None:
            raise UsageError(f"environment variable {name} is not set")
        return value
    return raw


def parse_login(raw: str) -> tuple[str, str]:
    """``--login`` value -> (method, url): ``POST /api/login``, ``/login`` or a URL."""
    method, sep, rest = raw.strip().partition(" ")
    if sep and method.upper() in ("POST", "PUT", "GET") and rest.strip():
        return method.upper(), rest.strip()
    if not raw.strip():
        raise UsageError("--login needs a URL, a path or 'POST /path'")
    return "POST", raw.strip()


@dataclass
class _State:
    flow: Flow | None
    credential: Credential
    generation: int = 0
    relogins: int = 0


class AuthManager:
    def __init__(self, client: ScopedClient, max_relogins: int = 10) -> None:
        self.client = client
        self.max_relogins = max_relogins
        self._ids: dict[str, _State] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    # -- the CredentialSource protocol -------------------------------------------------------
    def names(self) -> list[str]:
        return list(self._ids)

    def headers(self, identity: str) -> dict[str, str]:
        state = self._ids.get(identity)
        return dict(state.credential.headers) if state else {}

    def generation(self, identity: str) -> int:
        state = self._ids.get(identity)
        return state.generation if state else 0

    async def ensure_fresh(self, identity: str) -> None:
        state = self._ids.get(identity)
        if state is not None and state.flow is not None and state.credential.expiring():
            await self.refresh(identity, state.generation)

    async def refresh(self, identity: str, generation: int) -> bool:
        """Log in again unless someone already did since ``generation``; True when the caller
        should send again."""
        state = self._ids.get(identity)
        if state is None or state.flow is None:
            return False
        async with self._locks.setdefault(identity, asyncio.Lock()):
            if state.generation != generation:
                return True  # another request already logged in again
            if state.relogins >= self.max_relogins:
                return False
            state.relogins += 1
            try:
                state.credential = await self._run(state.flow)
            except LoginFailed:
                return False
            state.generation += 1
            return True

    # -- building ------------------------------------------------------------------------------
    def add_static(self, identity: str, headers: dict[str, str]) -> None:
        self._ids[identity] = _State(None, Credential(headers=dict(headers)))

    async def add_flow(self, flow: Flow) -> Credential:
        credential = await self._run(flow)
        self._ids[flow.identity] = _State(flow, credential)
        return credential

    async def _run(self, flow: Flow) -> Credential:
        if isinstance(flow, OAuth2Spec):
            return await oauth2_client_credentials(self.client, flow)
        # a fresh login starts from a fresh jar: an expired session cookie must not linger
        self.client.sessions.pop(flow.identity, None)
        return await login(self.client, flow)

    def relogins(self) -> dict[str, int]:
        return {name: s.relogins for name, s in self._ids.items() if s.flow is not None}


def flows_from_options(options: ScanOptions) -> list[Flow]:
    """The login flows the options ask for (validated; raises UsageError with one line)."""
    flows: list[Flow] = []
    users: list[tuple[str, str, str]] = []
    if options.username or options.password:
        if not (options.username and options.password):
            raise UsageError(
                "--username and --password go together (or FIREBRICK_USERNAME/PASSWORD)"
            )
        users.append(("user", options.username, secret_value(options.password)))
    for name, user, password in options.login_users:
        users.append((name, user, secret_value(password)))
    if users and not options.login:
        raise UsageError("a user name and password need --login (the login URL or 'POST /path')")
    if options.login and not users and not options.register:
        raise UsageError("--login needs --username/--password or --login-user NAME USER PASSWORD")
    fields: tuple[str, str] | None = None
    if options.login_fields:
        parts = [p.strip() for p in options.login_fields.split(",")]
        if len(parts) != 2 or not all(parts):
            raise UsageError("--login-fields expects USERFIELD,PASSWORDFIELD")
        fields = (parts[0], parts[1])
    if options.login_body not in ("auto", "json", "form"):
        raise UsageError("--login-body must be auto, json or form")
    if "{token}" not in options.login_header or ":" not in options.login_header:
        raise UsageError('--login-header must look like "Authorization: Bearer {token}"')
    if options.login:
        method, url = parse_login(options.login)
        seen: set[str] = set()
        for name, user, password in users:
            if name in seen or name in options.identities:
                raise UsageError(f"identity {name!r} is given twice")
            seen.add(name)
            flows.append(
                LoginSpec(
                    identity=name,
                    url=url,
                    method=method,
                    username=user,
                    password=password,
                    body=options.login_body,
                    fields=fields,
                    token_pointer=options.token_pointer,
                    header_template=options.login_header,
                )
            )
    if options.oauth2_token_url:
        if not (options.oauth2_client_id and options.oauth2_client_secret):
            raise UsageError(
                "--oauth2-token-url needs --oauth2-client-id and --oauth2-client-secret"
            )
        flows.append(
            OAuth2Spec(
                identity="oauth2-client",
                token_url=options.oauth2_token_url,
                client_id=options.oauth2_client_id,
                client_secret=secret_value(options.oauth2_client_secret),
                scope=options.oauth2_scope,
            )
        )
    return flows


# -- self-registration (--register, full mode) ----------------------------------------------------
_REGISTER = re.compile(
    r"(^|/)(register|registration|signup|sign-up|sign_up|users|accounts)/?$", re.I
)


def registration_operation(surface: Surface) -> Operation | None:
    """A POST that creates an account: a register/signup path with a password field."""
    for op in surface.operations:
        if op.method != "POST" or op.graphql is not None or not _REGISTER.search(op.path):
            continue
        names = {(p.json_path[-1] if p.json_path else p.name).lower() for p in op.params}
        if any("pass" in n for n in names):
            return op
    return None


async def register_users(
    client: ScopedClient, op: Operation, count: int = 2
) -> list[tuple[str, str, str]]:
    """Create ``count`` throwaway accounts through op; (identity, user name, password) each."""
    from firebrick.inject import build

    made: list[tuple[str, str, str]] = []
    for i in range(count):
        user = f"firebrick-{secrets.token_hex(4)}"
        password = secrets.token_urlsafe(12) + "-Aa1"
        client.add_secret(password)
        values: dict[str, object] = {}
        for p in op.params:
            leaf = (p.json_path[-1] if p.json_path else p.name).lower()
            if "pass" in leaf:
                values[p.display] = password
            elif "mail" in leaf:
                values[p.display] = f"{user}@example.com"
            elif leaf in ("username", "user", "login", "name", "user_name", "username_"):
                values[p.display] = user
        spec = build(op, values)
        ex = await client.request(
            spec.method,
            spec.path,
            params=spec.params or None,
            headers=spec.headers,
            json=spec.json,
            data=spec.data,
            check=CHECK,
            op_key=op.key,
            use_user_headers=False,
        )
        if ex.status is None or ex.status >= 400:
            raise LoginFailed(
                f"--register: {op.key} answered {ex.status or ex.error}: could not create an account"
            )
        made.append((f"registered-{i + 1}", user, password))
    return made


async def start_auth(client: ScopedClient, options: ScanOptions) -> AuthManager | None:
    """Log every identity in (before discovery, so the crawl sees what a user sees) and hand
    the client its credential source. Fills ``options.identities`` with each login's current
    headers so the authorization checks know every identity by name."""
    from firebrick.checks.authz_common import AUTH_HEADERS
    from firebrick.http import origin_of

    flows = flows_from_options(options)
    if not flows and not options.identities:
        return None
    manager = AuthManager(client, options.max_relogins)
    for name, headers in options.identities.items():
        manager.add_static(name, headers)
    for flow in flows:
        if isinstance(flow, OAuth2Spec):
            client.auth_origins.add(origin_of(flow.token_url))
        credential = await manager.add_flow(flow)
        options.identities[flow.identity] = dict(credential.headers)
    client.credentials = manager
    if not any(h.lower() in AUTH_HEADERS for h in options.headers):
        client.default_identity = next(iter(manager.names()), None)
    return manager


async def register_identities(
    manager: AuthManager | None, client: ScopedClient, options: ScanOptions, surface: Surface
) -> AuthManager | None:
    """--register: create two accounts through the API, then log in as each (needs --login)."""
    op = registration_operation(surface)
    if op is None:
        raise UsageError("--register: the API has no registration operation (POST /register ...)")
    if not options.login:
        raise UsageError("--register needs --login (where the new accounts log in)")
    method, url = parse_login(options.login)
    made = await register_users(client, op)
    if manager is None:
        manager = AuthManager(client, options.max_relogins)
        client.credentials = manager
    for name, user, password in made:
        flow = LoginSpec(
            identity=name,
            url=url,
            method=method,
            username=user,
            password=password,
            body=options.login_body,
            token_pointer=options.token_pointer,
            header_template=options.login_header,
        )
        credential = await manager.add_flow(flow)
        options.identities[name] = dict(credential.headers)
    if client.default_identity is None:
        client.default_identity = next(iter(manager.names()), None)
    return manager
