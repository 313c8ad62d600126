"""Proof of control of a target host, for scans that carry the caller's credentials: a scanning
service must not let anyone point authenticated attacks at a host they do not own."""

from __future__ import annotations

from urllib.parse import urlsplit

from firebrick.target_policy import PolicyResolver, TargetPolicy

WELL_KNOWN = "/.well-known/firebrick-verify.txt"


async def proves_control(target: str, token: str, policy: TargetPolicy) -> bool:
    return await _well_known(target, token, policy) or await _dns_txt(target, token)


async def _well_known(target: str, token: str, policy: TargetPolicy) -> bool:
    import aiohttp

    parts = urlsplit(target)
    url = f"{parts.scheme}://{parts.netloc}{WELL_KNOWN}"
    connector = aiohttp.TCPConnector(resolver=PolicyResolver(policy))
    try:
        async with (
            aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=10), trust_env=False
            ) as session,
            session.get(url, allow_redirects=False) as resp,
        ):
            body = await resp.content.read(4096)
            return resp.status == 200 and token in body.decode("utf-8", "replace").split()
    except (TimeoutError, aiohttp.ClientError, OSError):
        return False


async def _dns_txt(target: str, token: str) -> bool:
    import dns.asyncresolver
    import dns.exception

    host = urlsplit(target).hostname or ""
    try:
        import ipaddress

        ipaddress.ip_address(host)
        return False  # an address has no name to hold a TXT record
    except ValueError:
        pass
    try:
        answer = await dns.asyncresolver.resolve(f"_firebrick-verify.{host}", "TXT", lifetime=5)
    except (dns.exception.DNSException, OSError, ValueError):
        return False
    return any(token in (s.decode("utf-8", "replace") for s in record.strings) for record in answer)
