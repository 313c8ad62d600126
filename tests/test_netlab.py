"""The network lab: the lab app in its own namespace behind a real resolver, scanned from outside.

Needs root, iproute2, unbound and dnsmasq (Debian: unbound, dnsmasq-base; .ci/run installs them);
skips with the reason otherwise. Each fixture is a complete scan of a freshly built lab.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import textwrap

import pytest

from firebrick.model import Finding, ScanResult
from firebrick.netlab import NetLab, NetLabConfig, cleanup_leftovers, missing_requirements
from firebrick.netlab import net as netmod

MISSING = missing_requirements()
pytestmark = pytest.mark.skipif(bool(MISSING), reason="network lab " + "; ".join(MISSING))

BLIND = {"POST /api/import", "POST /api/webhooks"}  # fetch, never reflect


def _scan(variant: str, resolver: str) -> ScanResult:
    from firebrick.netlab import network_scan

    # The two checks this lab exists for (the others have their own labs and tests).
    result: ScanResult = asyncio.run(
        network_scan(variant, resolver, rate=200.0, checks=["ssrf", "dns_hygiene"])
    )
    return result


@pytest.fixture(scope="module")
def vuln_unbound() -> ScanResult:
    return _scan("vulnerable", "unbound")


@pytest.fixture(scope="module")
def vuln_dnsmasq() -> ScanResult:
    return _scan("vulnerable", "dnsmasq")


@pytest.fixture(scope="module")
def hardened_unbound() -> ScanResult:
    return _scan("hardened", "unbound")


def test_blind_fetchers_proven_by_the_inside_listener_on_the_lab_network(
    vuln_unbound: ScanResult,
) -> None:
    # The scanner is outside the target's host; its inside listener stands on a second address
    # of the lab network (private, so internal from the app's view): blind reach is still proven.
    reach = {f.operation for f in _kinds(vuln_unbound, "ssrf.internal-reach")}
    assert reach >= BLIND, [(f.kind, f.operation) for f in vuln_unbound.findings]
    for f in _kinds(vuln_unbound, "ssrf.internal-reach"):
        assert any(i.listener == "inside" for i in f.evidence.interactions)


def _kinds(result: ScanResult, kind: str) -> list[Finding]:
    return [f for f in result.findings if f.kind == kind]


def _reason(result: ScanResult, item: str) -> str:
    found = [c for c in result.coverage if c.check == "dns_hygiene" and c.input == item]
    assert found, f"no dns_hygiene coverage for {item}: {result.coverage}"
    return found[0].reason


def test_rebinding_endpoint_found_and_its_pinned_twin_not(vuln_unbound: ScanResult) -> None:
    rebinding = _kinds(vuln_unbound, "ssrf.dns-rebinding")
    assert [f.operation for f in rebinding] == ["GET /api/avatar"]
    # /api/feed checks and pins its first hop: a rebinding name must not get through there.
    assert not any(
        f.operation == "GET /api/feed" and "rebinding" in f.kind for f in vuln_unbound.findings
    )


def test_metadata_read_through_a_name_that_resolves_inside(vuln_unbound: ScanResult) -> None:
    preview = [
        f
        for f in _kinds(vuln_unbound, "ssrf.dns-resolved-internal")
        if f.operation == "GET /api/preview"
    ]
    assert preview, [f.kind + " " + str(f.operation) for f in vuln_unbound.findings]
    finding = preview[0]
    assert any("169.254.169.254" in p for p in finding.evidence.payloads_worked)
    assert any("ami-id" in e.response_excerpt for e in finding.evidence.exchanges)


def test_randomizing_validating_resolver_is_good_or_great(vuln_unbound: ScanResult) -> None:
    reason = _reason(vuln_unbound, "resolver")
    ports = re.search(r"source ports (\w+) \(stddev (\d+), ([\d.]+) bits", reason)
    assert ports is not None and ports.group(1) in ("GOOD", "GREAT"), reason
    assert int(ports.group(2)) >= 296
    txids = re.search(r"txids (\w+)", reason)
    assert txids is not None and txids.group(1) in ("GOOD", "GREAT")
    n = int(re.search(r"(\d+) queries", reason).group(1))  # type: ignore[union-attr]
    assert n >= 26  # the CNAME chain made the resolver ask for link after link
    assert f"0x20 {n}/{n}" in reason and f"DO {n}/{n}" in reason
    assert "validates DNSSEC" in _reason(vuln_unbound, "dnssec")
    assert "refused" in _reason(vuln_unbound, "open-resolver")
    assert not [f for f in vuln_unbound.findings if f.category == "dns_hygiene"]


def test_fixed_port_resolver_is_poor_with_the_numbers(vuln_dnsmasq: ScanResult) -> None:
    [finding] = _kinds(vuln_dnsmasq, "dns.resolver-predictable")
    ports = finding.evidence.details["source_ports"]
    assert ports["verdict"] == "POOR" and ports["distinct"] == 1 and ports["stddev"] == 0
    assert ports["count"] >= 8
    assert finding.evidence.details["txids"]["verdict"] in (
        "GOOD",
        "GREAT",
    )  # dnsmasq ids are random
    assert "off-path attacker" in finding.description
    assert finding.severity.value == "low"
    # The combination with a URL fetcher on the same target is explained, not silently raised.
    [combined] = _kinds(vuln_dnsmasq, "dns.poisonable-fetch")
    assert combined.severity.value == "medium" and combined.operation is not None


def test_non_validating_and_open_resolver(vuln_dnsmasq: ScanResult) -> None:
    [dnssec] = _kinds(vuln_dnsmasq, "dns.no-dnssec-validation")
    assert dnssec.evidence.details["dnssec"] == "not validated"
    assert any(i.protocol == "http" for i in dnssec.evidence.interactions)
    assert _kinds(vuln_dnsmasq, "dns.open-resolver")


def test_hardened_app_behind_a_good_resolver_is_clean(hardened_unbound: ScanResult) -> None:
    # Blind fetchers too: our inside listener on the lab network proves the guard refuses it.
    assert hardened_unbound.findings == [], [
        (f.kind, f.operation) for f in hardened_unbound.findings
    ]
    assert "validates DNSSEC" in _reason(hardened_unbound, "dnssec")


def test_scans_leave_nothing_behind(
    vuln_unbound: ScanResult, vuln_dnsmasq: ScanResult, hardened_unbound: ScanResult
) -> None:
    mine = f"{netmod.PREFIX}-{os.getpid()}-"
    assert not [ns for ns in netmod.namespaces() if ns.startswith(mine)]
    assert not [link for link in netmod.links() if link.startswith(f"{netmod.PREFIX}{os.getpid()}")]


def test_teardown_is_idempotent() -> None:
    lab = NetLab(NetLabConfig(resolver="unbound"))
    network = lab.create_network()
    assert network.ns in netmod.namespaces()
    lab.stop()
    lab.stop()
    network.destroy()
    assert network.ns not in netmod.namespaces()
    assert network.outside_if not in netmod.links()


def test_leftovers_of_a_killed_run_are_removed() -> None:
    # A child builds a namespace with a process running inside it, then is SIGKILLed: no
    # teardown runs. The next cleanup must remove the namespace, its links and its process.
    code = textwrap.dedent(
        """
        import subprocess, sys
        from firebrick.netlab import net
        n = net.create_network()
        p = subprocess.Popen([*n.exec_prefix(), "sleep", "300"])
        print(n.ns, n.outside_if, p.pid, flush=True)
        sys.stdin.read()
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    ns, link, sleeper = child.stdout.readline().split()
    try:
        assert ns in netmod.namespaces()
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        removed = cleanup_leftovers()
        assert ns in removed
        assert ns not in netmod.namespaces() and link not in netmod.links()
        # The sleeper was SIGKILLed; it is a zombie at most until its (dead) parent is reaped.
        proc = f"/proc/{sleeper}/status"
        status = open(proc).read() if os.path.exists(proc) else ""  # noqa: SIM115
        assert not status or "State:\tZ" in status
    finally:
        if child.poll() is None:
            child.kill()
        netmod.delete_namespace(ns)
