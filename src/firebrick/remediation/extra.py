"""Fix texts kept as YAML data files beside this module (``data/*.yaml``), merged into the
Flask texts of :mod:`firebrick.remediation.flask` by kind."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

from firebrick.model import Finding
from firebrick.remediation.flask import KINDS, Fix

DATA_FILES = ("reach.yaml",)


@cache
def load(name: str) -> dict[str, Any]:
    text = (resources.files("firebrick.remediation") / "data" / name).read_text("utf-8")
    data = yaml.safe_load(text)
    return data if isinstance(data, dict) else {}


def merge() -> None:
    for name in DATA_FILES:
        entries = load(name)
        for kind, entry in entries.items():
            if "same_as" in entry:
                continue
            KINDS.setdefault(kind, Fix(entry["title"], entry["why"].strip(), entry["fix"]))
        for kind, entry in entries.items():
            if "same_as" in entry and entry["same_as"] in KINDS:
                KINDS.setdefault(kind, KINDS[entry["same_as"]])


merge()


SHARED_MARKER = "<!-- firebrick:shared-fix -->"


def framework_line(framework: str, finding: Finding) -> str | None:
    """The one-line restatement of a finding's fix for ``framework`` (frameworks.yaml)."""
    table = load("frameworks.yaml").get(framework) or {}
    line = table.get(finding.kind) or table.get(finding.category) or table.get("default")
    return str(line) if line else None


def annotate(findings: list[Finding], framework: dict[str, Any] | None) -> list[Finding]:
    """On a non-Flask target: say so in each finding, Flask fix first, then one line on the
    same pattern for the detected framework (before the shared SSRF section, if any)."""
    from dataclasses import replace

    if not framework or framework.get("name") == "flask":
        return findings
    label = str(framework.get("label") or framework.get("name"))
    signs = ", ".join(framework.get("evidence") or [])
    out = []
    for f in findings:
        line = framework_line(str(framework.get("name")), f)
        if not line:
            out.append(f)
            continue
        note = (
            f"#### This app is not Flask ({label})\n\n"
            f"firebrick saw {label} ({signs}). The fix above is written for Flask; {line}\n"
        )
        head, sep, tail = f.remediation.partition(SHARED_MARKER)
        remediation = head.rstrip() + "\n\n" + note + ("\n" + sep + tail if sep else "")
        details = {**f.evidence.details, "framework": label}
        out.append(
            replace(f, remediation=remediation, evidence=replace(f.evidence, details=details))
        )
    return out
