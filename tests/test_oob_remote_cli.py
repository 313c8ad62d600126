"""The remote OOB service from the command line, on loopback: `firebrick oob-server` with its
client API (a given certificate, a hashed keys file), and `firebrick scan --oob-server` options
(flags, environment, firebrick.toml), with the key never shown."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from firebrick.oob import tls
from firebrick.oob.api import KeyRing
from firebrick.oob.client import RemoteOOB
from firebrick.options import ScanOptions, load_options

KEY = "cli-test-key-0123456789abcdef"
READY = 60.0


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("FIREBRICK_")}


def test_hash_key_prints_the_line_for_a_keys_file() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "firebrick",
            "oob-server",
            "--zone",
            "oob.example.com",
            "--hash-key",
        ],
        input=KEY + "\n",
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == KeyRing.digest_line(KEY)
    assert KEY not in done.stdout


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """`firebrick oob-server` on loopback with a given certificate and a hashed key."""
    tmp = tmp_path_factory.mktemp("oobcli")
    material = tls.generate_self_signed("oob-api.test", hosts=["127.0.0.1"])
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    cert.write_bytes(material.cert_pem)
    key.write_bytes(material.key_pem)
    keys = tmp / "keys"
    keys.write_text(KeyRing.digest_line(KEY) + "\n")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "firebrick", "oob-server", "--zone", "oob.example.com",
            "--listen", "127.0.0.1", "--http-port", "0", "--https-port", "0", "--dns-port", "0",
            "--api-port", "0", "--api-keys-file", str(keys),
            "--api-cert", str(cert), "--api-cert-key", str(key),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + READY
        url = None
        lines = []
        while time.monotonic() < deadline and url is None:
            line = proc.stderr.readline()  # the ready lines; blocks until the server writes
            if not line:
                break
            lines.append(line)
            found = re.search(r"client API on (https://\S+) with 1 key", line)
            url = found.group(1) if found else None
        assert url is not None, "".join(lines)
        yield url, str(cert)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def test_the_cli_server_serves_the_api_with_the_given_certificate(
    server: tuple[str, str],
) -> None:
    url, cert = server

    async def go() -> tuple[str, int]:
        async with RemoteOOB(url, KEY, ca_file=cert) as remote:
            t = remote.new_token()
            async with httpx.AsyncClient(trust_env=False) as client:
                answer = await client.get(remote.http_url(t))
            assert await remote.wait_for({t}, READY)
            return answer.text, len(remote.interactions(t))

    text, count = asyncio.run(go())
    assert "firebrick-canary-" in text and count == 1
    refused = httpx.post(
        f"{url}/v1/scans", headers={"Authorization": "Bearer not-the-key-000000"}, verify=False
    )
    assert refused.status_code == 401


def test_bad_api_settings_are_one_line_usage_errors(tmp_path: Path) -> None:
    base = [sys.executable, "-m", "firebrick", "oob-server", "--zone", "oob.example.com"]
    for extra, says in (
        (["--api-key", "short"], "at least 16 characters"),
        (["--api-keys-file", str(tmp_path / "missing")], "cannot read the API keys file"),
        (["--api-key", KEY, "--api-cert", "x.pem"], "--api-cert and --api-cert-key go together"),
        (["--api-key", KEY, "--scan-ttl", "0"], "retention limits must be positive"),
    ):
        done = subprocess.run(base + extra, capture_output=True, text=True, env=_env(), timeout=60)
        assert done.returncode == 3, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("firebrick: error:") and says in lines[0]
        assert KEY not in done.stderr


def test_scan_options_from_env_and_toml_never_show_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = tmp_path / "firebrick.toml"
    toml.write_text('[scan]\noob_server = "https://oob.example.com:8443"\n')
    monkeypatch.setenv("FIREBRICK_OOB_KEY", KEY)
    options = load_options({"target": "https://api.example.com"}, toml)
    assert options.oob_server == "https://oob.example.com:8443" and options.oob_key == KEY
    options.validate()
    assert KEY not in repr(options)
    assert KEY not in repr(ScanOptions(oob_key=KEY))


def test_scan_refuses_an_unreachable_or_unverified_oob_server_before_any_request(
    server: tuple[str, str], tmp_path: Path
) -> None:
    url, _cert = server
    cmd = [sys.executable, "-m", "firebrick", "scan", "http://127.0.0.1:9/", "--no-store", "-q"]
    env = {**_env(), "FIREBRICK_OOB_KEY": KEY}
    untrusted = subprocess.run(
        [*cmd, "--oob-server", url], capture_output=True, text=True, env=env, timeout=120
    )
    assert untrusted.returncode == 3 and "--oob-ca" in untrusted.stderr
    missing_ca = subprocess.run(
        [*cmd, "--oob-server", url, "--oob-ca", str(tmp_path / "nope.pem")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert missing_ca.returncode == 3 and "no such file" in missing_ca.stderr
    for done in (untrusted, missing_ca):
        assert KEY not in done.stdout + done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


def test_options_built_without_the_environment_still_use_its_oob_ca(
    server: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fleet worker or `firebrick serve` builds ScanOptions directly (no env merge): the CA of
    FIREBRICK_OOB_CA must still verify the shared OOB server."""
    from firebrick.engine import make_oob

    url, cert = server
    monkeypatch.setenv("FIREBRICK_OOB_CA", cert)
    remote = make_oob(ScanOptions(target="http://127.0.0.1:9/", oob_server=url, oob_key=KEY), False)
    assert isinstance(remote, RemoteOOB)

    async def go() -> str:
        await remote.start()
        try:
            return remote.namespace
        finally:
            await remote.stop()

    assert asyncio.run(go()).startswith("s")
