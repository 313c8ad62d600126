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


def lab_scan(hardened: bool, serve_spec: bool = True) -> ScanResult:
    from firebrick.cli import demo_scan

    return asyncio.run(demo_scan(hardened, serve_spec, rate=200.0, progress=lambda _m: None))


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
