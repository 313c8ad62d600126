"""Shared fixtures: real scans of the bundled lab (real Flask apps, real OOB listeners, loopback)."""

from __future__ import annotations

import asyncio
import os
import tempfile

import pytest

from firebrick.model import ScanResult


def pytest_configure(config: pytest.Config) -> None:
    # Scans run by tests (and the CLI subprocesses they start) never write the user's history.
    os.environ.setdefault(
        "FIREBRICK_STORE", os.path.join(tempfile.mkdtemp(prefix="firebrick-test-"), "scans.sqlite")
    )


def lab_scan(hardened: bool, serve_spec: bool = True, inside: bool = True) -> ScanResult:
    from firebrick.cli import demo_scan

    return asyncio.run(
        demo_scan(hardened, serve_spec, rate=200.0, progress=lambda _m: None, inside=inside)
    )


@pytest.fixture(scope="session")
def vulnerable_remote_scan() -> ScanResult:
    """As seen from another machine: no OOB listener on the target's loopback."""
    return lab_scan(hardened=False, inside=False)


@pytest.fixture(scope="session")
def hardened_remote_scan() -> ScanResult:
    return lab_scan(hardened=True, inside=False)


@pytest.fixture(scope="session")
def vulnerable_scan() -> ScanResult:
    return lab_scan(hardened=False)


@pytest.fixture(scope="session")
def hardened_scan() -> ScanResult:
    return lab_scan(hardened=True)


@pytest.fixture(scope="session")
def vulnerable_nospec_scan() -> ScanResult:
    return lab_scan(hardened=False, serve_spec=False)


@pytest.fixture(scope="session")
def hardened_nospec_scan() -> ScanResult:
    return lab_scan(hardened=True, serve_spec=False)


# -- issue 4: scans with credentials the lab issued (alice and bob log in first) --------------
AUTHZ_CHECKS = [
    "authentication",
    "bola",
    "bfla",
    "property_authorization",
    "rate_limiting",
    "inventory",
]


def lab_login(base_url: str, username: str, password: str) -> str:
    """A bearer token from the lab's own login (the hardened lab wants HTTPS: the proxy header)."""
    import httpx

    r = httpx.post(
        f"{base_url}/api/auth/login",
        json={"username": username, "password": password},
        headers={"X-Forwarded-Proto": "https"},
        trust_env=False,
        timeout=10,
    )
    r.raise_for_status()
    return str(r.json()["token"])


def credentialed_lab_scan(
    hardened: bool, mode: str = "safe", burst: int = 30, spec: str | None = None
) -> ScanResult:
    """Start the lab, log alice and bob in, scan with -H (alice) and --identity alice/bob."""
    from firebrick.engine import run_scan
    from firebrick.lab.api_lab import USERS
    from firebrick.lab.runner import LabConfig, start_lab
    from firebrick.options import ScanOptions

    with start_lab(LabConfig(variant="hardened" if hardened else "vulnerable")) as lab:
        alice = lab_login(lab.base_url, "alice", USERS["alice"]["password"])
        bob = lab_login(lab.base_url, "bob", USERS["bob"]["password"])
        options = ScanOptions(
            target=lab.base_url,
            rate=200.0,
            max_time=60.0,
            checks=list(AUTHZ_CHECKS),
            mode=mode,
            burst=burst,
            spec=spec,
            headers={"Authorization": f"Bearer {alice}"},
            identities={
                "alice": {"Authorization": f"Bearer {alice}"},
                "bob": {"Authorization": f"Bearer {bob}"},
            },
        )
        return asyncio.run(run_scan(options))


@pytest.fixture(scope="session")
def vulnerable_authz_scan() -> ScanResult:
    return credentialed_lab_scan(hardened=False)


@pytest.fixture(scope="session")
def hardened_authz_scan() -> ScanResult:
    return credentialed_lab_scan(hardened=True)
