"""CWE id and references for every finding kind, kept as data (remediation/weaknesses.json).

A kind without its own entry falls back to its category's entry ("@category"), so a new kind is
never reported without both; tests/test_weaknesses.py checks that every kind the checks emit has
its own entry. The judge stamps both on each finding; JSON, SARIF and HTML print them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

FALLBACK_CWE = 693  # Protection Mechanism Failure: only for a category nobody listed
FALLBACK_REFERENCE = "https://owasp.org/API-Security/editions/2023/en/0x11-t10/"


@dataclass(frozen=True)
class Weakness:
    cwe: int
    references: tuple[str, ...]
    specific: bool  # False when the category's entry stood in

    @property
    def cwe_id(self) -> str:
        return f"CWE-{self.cwe}"

    @property
    def cwe_url(self) -> str:
        return f"https://cwe.mitre.org/data/definitions/{self.cwe}.html"


@cache
def table() -> dict[str, Weakness]:
    text = (resources.files("firebrick.remediation") / "weaknesses.json").read_text("utf-8")
    kinds = json.loads(text)["kinds"]
    return {
        key: Weakness(int(v["cwe"]), tuple(v["references"]), not key.startswith("@"))
        for key, v in kinds.items()
    }


def lookup(kind: str, category: str) -> Weakness:
    entries = table()
    if kind in entries:
        return entries[kind]
    fallback = entries.get("@" + category)
    if fallback is not None:
        return Weakness(fallback.cwe, fallback.references, False)
    return Weakness(FALLBACK_CWE, (FALLBACK_REFERENCE,), False)
