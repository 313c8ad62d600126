"""The name grammar of the OOB zone: what a query name asks the DNS listener to answer.

Pure functions, no I/O, so the grammar is unit-testable on its own. Names (relative to the zone):

- ``<token>``                    -> A: the advertised callback address
- ``<token>.a-127-0-0-1``        -> A: 127.0.0.1 (a "poisoned" or internal name)
- ``<token>.a6-fd00-ec2-0-0-0-0-0-254`` -> AAAA: fd00:ec2::254 (hex groups joined with ``-``;
                                    ``--`` for ``::`` is accepted too)
- ``<token>.rb-127-0-0-1``       -> rebinding: the first A query answers the callback address,
                                    every later one 127.0.0.1 (state lives in the listener)
- ``c26-fb.<token>``             -> CNAME to ``c25-fb.<token>``, and so on down to ``c0-fb.<token>``,
                                    which answers the callback address: one lookup through a
                                    resolver makes about 27 queries (source-port / txid statistics).
                                    ``N`` is at most ``MAX_CHAIN``; the text after ``c<N>-`` is kept.
- ``<token>.ds-bad``             -> A: the callback address with a deliberately broken RRSIG (when
                                    the zone is signed): a validating resolver answers SERVFAIL
- the zone apex                  -> SOA, NS and (signed zone) DNSKEY
- anything else under the zone   -> the callback address

Labels are matched case-insensitively (0x20 resolvers randomise case); the instruction label may
appear anywhere below the zone, the token is the first label that is token-shaped.

Extension point: new instruction labels are one entry in ``_LABEL_RULES`` below plus a ``Kind``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from firebrick.oob.tokens import is_token


class Kind(StrEnum):
    APEX = "apex"  # the zone itself: SOA, NS
    CALLBACK = "callback"  # answer the advertised callback address
    ANSWER = "answer"  # answer Instruction.address (A or AAAA by its family)
    REBIND = "rebind"  # first A query: callback address; later ones: Instruction.address
    CNAME = "cname"  # c<N>-...: CNAME to the same name with c<N-1>-...; c0-... -> callback
    DNSSEC_BAD = "dnssec-bad"  # callback address, RRSIG deliberately broken (signed zone only)


@dataclass(frozen=True)
class Instruction:
    kind: Kind
    address: str | None = None  # for ANSWER and REBIND, in canonical text form
    label: str | None = None  # the instruction label, lower-cased
    count: int | None = None  # for CNAME: links left below this name


@dataclass(frozen=True)
class ParsedName:
    token: str | None  # lower-cased
    instruction: Instruction
    relative: tuple[str, ...]  # labels below the zone, lower-cased, left to right


CALLBACK = Instruction(Kind.CALLBACK)
APEX = Instruction(Kind.APEX)


def _parse_ipv4(text: str) -> str | None:
    try:
        return str(ipaddress.IPv4Address(text.replace("-", ".")))
    except ValueError:
        return None


def _parse_ipv6(text: str) -> str | None:
    try:
        return str(ipaddress.IPv6Address(text.replace("-", ":")))
    except ValueError:
        return None


def _answer_v4(rest: str, label: str) -> Instruction | None:
    address = _parse_ipv4(rest)
    return Instruction(Kind.ANSWER, address, label) if address else None


def _answer_v6(rest: str, label: str) -> Instruction | None:
    address = _parse_ipv6(rest)
    return Instruction(Kind.ANSWER, address, label) if address else None


def _rebind_v4(rest: str, label: str) -> Instruction | None:
    address = _parse_ipv4(rest)
    return Instruction(Kind.REBIND, address, label) if address else None


MAX_CHAIN = 40  # longest CNAME chain the listener serves (resolvers give up near 10-30 links)
_CHAIN_RE = re.compile(r"([0-9]{1,2})-([a-z0-9-]{0,40})")
DNSSEC_BAD_LABEL = "ds-bad"


def _chain(rest: str, label: str) -> Instruction | None:
    match = _CHAIN_RE.fullmatch(rest)
    if match is None or int(match.group(1)) > MAX_CHAIN:
        return None
    return Instruction(Kind.CNAME, None, label, int(match.group(1)))


def _dnssec_bad(rest: str, label: str) -> Instruction | None:
    return Instruction(Kind.DNSSEC_BAD, None, label) if label == DNSSEC_BAD_LABEL else None


# (prefix, parser of the rest of the label). The first label (left to right) that a rule accepts
# is the instruction. Add CNAME-chain and DNSSEC rules here.
_LABEL_RULES: list[tuple[str, Callable[[str, str], Instruction | None]]] = [
    ("a-", _answer_v4),
    ("a6-", _answer_v6),
    ("rb-", _rebind_v4),
    ("c", _chain),
    ("ds-", _dnssec_bad),
]


def parse_label(label: str) -> Instruction | None:
    """The instruction one label carries, or None."""
    lowered = label.lower()
    for prefix, rule in _LABEL_RULES:
        if lowered.startswith(prefix):
            found = rule(lowered[len(prefix) :], lowered)
            if found is not None:
                return found
    return None


def zone_labels(zone: str) -> tuple[str, ...]:
    """``"Oob.Example.test."`` -> ``("oob", "example", "test")``."""
    return tuple(label for label in zone.strip().strip(".").lower().split(".") if label)


def relative_labels(qname: str, zone: str) -> tuple[str, ...] | None:
    """Labels of ``qname`` below ``zone`` (case kept), ``()`` for the apex, None if outside.

    Plain text split on dots: use ``parse_labels`` when you have wire labels that may contain
    escaped dots.
    """
    labels = tuple(label for label in qname.strip().rstrip(".").split(".") if label)
    zlabels = zone_labels(zone)
    if len(labels) < len(zlabels):
        return None
    if zlabels and tuple(label.lower() for label in labels[-len(zlabels) :]) != zlabels:
        return None
    return labels[: len(labels) - len(zlabels)]


def parse_labels(relative: Sequence[str]) -> ParsedName:
    """Parse the labels below the zone (apex = empty) into (token, instruction)."""
    lowered = tuple(label.lower() for label in relative)
    if not lowered:
        return ParsedName(None, APEX, ())
    token = next((label for label in lowered if is_token(label)), None)
    instruction = CALLBACK
    for label in lowered:
        if label == token:
            continue
        found = parse_label(label)
        if found is not None:
            instruction = found
            break
    return ParsedName(token, instruction, lowered)


def parse_qname(qname: str, zone: str) -> ParsedName | None:
    """Parse a query name; None when it is outside ``zone``."""
    relative = relative_labels(qname, zone)
    if relative is None:
        return None
    return parse_labels(relative)


def address_label(address: str) -> str:
    """The label that makes the listener answer ``address``: ``a-10-0-0-1`` or ``a6-...``.

    IPv6 uses all eight groups (no ``::``) so the label never starts or ends with a hyphen,
    which some URL parsers reject in host names.
    """
    ip = ipaddress.ip_address(address.strip("[]"))
    if isinstance(ip, ipaddress.IPv4Address):
        return "a-" + str(ip).replace(".", "-")
    groups = ip.exploded.split(":")
    return "a6-" + "-".join(format(int(group, 16), "x") for group in groups)


def rebinding_label(address: str) -> str:
    """The label that makes the listener rebind to ``address`` (IPv4 only)."""
    try:
        ip = ipaddress.IPv4Address(address)
    except ValueError as exc:
        raise ValueError(f"rebinding needs an IPv4 address, got {address!r}") from exc
    return "rb-" + str(ip).replace(".", "-")


def chain_label(links: int, tag: str = "fb") -> str:
    """``c26-fb``: the label that starts a CNAME chain of ``links`` links."""
    if not 0 <= links <= MAX_CHAIN:
        raise ValueError(f"a CNAME chain has 0..{MAX_CHAIN} links, not {links}")
    return f"c{links}-{tag}"


def chain_next(relative: Sequence[str], instruction: Instruction) -> tuple[str, ...]:
    """The labels (below the zone) of the next link: the chain label with one link fewer."""
    assert instruction.kind is Kind.CNAME and instruction.count and instruction.label
    tag = instruction.label.split("-", 1)[1]
    nxt = f"c{instruction.count - 1}-{tag}"
    out = list(relative)
    for i, label in enumerate(out):
        if label.lower() == instruction.label:
            out[i] = nxt
            break
    return tuple(label.lower() for label in out)
