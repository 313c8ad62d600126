"""SARIF 2.1.0 for code-scanning dashboards (GitHub code scanning and the like).

One rule per finding kind, one result per finding. GitHub code scanning accepts only locations
that are files of the checked-out repository, so each result is placed, in this order: at the
Flask view's file and line when the source is known (``scan --source``, ``firebrick code``); at
the operation's line in the OpenAPI document when one was given as a local file; else at the
documented fallback file ``.firebrick/target.txt`` (the Action writes it with the target URL).
The operation's URL stays in the message and the properties. The fingerprint keys GitHub's alert
de-duplication across runs, so a finding keeps its alert from scan to scan.
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from firebrick import weaknesses
from firebrick.coverage import coverage_lines
from firebrick.model import Finding, ScanResult, Severity

SARIF_SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)

# GitHub reads properties.security-severity (a string holding a number) to rank alerts.
SECURITY_SEVERITY: dict[Severity, str] = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}

LEVEL: dict[Severity, str] = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}

# Characters a URI may carry as they are; everything else (braces of path templates, spaces)
# is percent-encoded so artifactLocation.uri stays a valid uri-reference.
_URI_SAFE = "/:@!$&'()*+,;=-._~%?#[]"


def operation_url(target: str, operation: str | None) -> str:
    """The URL a finding lives at: the target origin plus the operation's path.

    ``GET /users/{id}`` -> ``http://host/users/%7Bid%7D``; a GraphQL key
    ``GRAPHQL /graphql query.user`` -> ``http://host/graphql#query.user``; no operation -> target.
    """
    base = target.rstrip("/")
    if not operation:
        return quote(base, safe=_URI_SAFE) or "/"
    fragment = ""
    if operation.startswith("GRAPHQL "):
        path, _, fragment = operation[len("GRAPHQL ") :].partition(" ")
    else:
        _method, sep, path = operation.partition(" ")
        if not sep:
            path = operation
    if not path.startswith("/"):
        path = "/" + path
    # A path that is itself absolute (a spec-declared server) stands alone.
    url = path[1:] if urlsplit(path[1:]).scheme in ("http", "https") else base + path
    url = quote(url, safe=_URI_SAFE)
    if fragment:
        url += "#" + quote(fragment, safe="")
    return url


def _rule_name(kind: str) -> str:
    """``ssrf.internal-read`` -> ``SsrfInternalRead`` (SARIF names are identifier-like)."""
    return "".join(w[:1].upper() + w[1:] for w in re.split(r"[^0-9A-Za-z]+", kind) if w)


def _first_curl(finding: Finding) -> str | None:
    for ex in finding.evidence.exchanges:
        return ex.curl
    return None


def _message(finding: Finding, target: str = "") -> str:
    url = operation_url(target, finding.operation) if target and finding.operation else ""
    where = ", ".join(x for x in (finding.operation, finding.input, url) if x)
    text = finding.title + (f" ({where})" if where else "")
    if finding.evidence.summary:
        text += f": {finding.evidence.summary}"
    return text


FALLBACK_FILE = ".firebrick/target.txt"  # docs/reports.md; the Action writes it
PRECISION = {"confirmed": "very-high", "likely": "high", "possible": "medium"}


def _repo_path(path: str) -> str | None:
    """``path`` relative to the working directory (the checkout in CI), or None when it is not
    a file inside it (a URL, or a file elsewhere)."""
    if "://" in path:
        return None
    try:
        rel = Path(path).resolve().relative_to(Path(os.getcwd()).resolve())
    except (ValueError, OSError):
        return None
    return rel.as_posix() if Path(path).is_file() else None


@lru_cache(maxsize=4)
def _spec_lines(path: str) -> tuple[str, ...]:
    try:
        return tuple(Path(path).read_text(encoding="utf-8", errors="replace").splitlines())
    except OSError:
        return ()


def spec_line(path: str, operation: str | None) -> int:
    """The line of ``operation`` (``GET /users/{id}``) in an OpenAPI document, JSON or YAML: the
    method key under the path key; the path's own line if the method is not found; else 1."""
    if not operation or " " not in operation or operation.startswith("GRAPHQL "):
        return 1
    method, _, route = operation.partition(" ")
    lines = _spec_lines(path)
    key = re.compile(r"""^(\s*)["']?""" + re.escape(route) + r"""["']?\s*:""")
    meth = re.compile(r"""^\s*["']?""" + method.lower() + r"""["']?\s*:""")
    for i, line in enumerate(lines):
        m = key.match(line)
        if not m:
            continue
        indent = len(m.group(1))
        for j in range(i + 1, min(len(lines), i + 400)):
            nxt = lines[j]
            if (
                nxt.strip()
                and len(nxt) - len(nxt.lstrip()) <= indent
                and not nxt.lstrip().startswith("}")
            ):
                break  # the next path (YAML): this one has no such method
            if meth.match(nxt):
                return j + 1
        return i + 1
    return 1


def _location(result: ScanResult, f: Finding) -> dict[str, Any]:
    """A repository file and line for every result (see the module docstring)."""
    if f.source is not None:
        return {
            "physicalLocation": {
                "artifactLocation": {"uri": quote(f.source.file), "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": max(f.source.line, 1)},
            },
            "logicalLocations": [
                {"name": f.source.function or f.operation or f.kind, "kind": "function"}
            ],
        }
    spec = result.surface.get("spec") if isinstance(result.surface, dict) else None
    spec_file = _repo_path(spec) if isinstance(spec, str) else None
    if spec_file is not None:
        uri, line = spec_file, spec_line(str(spec), f.operation)
    else:
        uri, line = FALLBACK_FILE, 1
    location: dict[str, Any] = {
        "physicalLocation": {
            "artifactLocation": {"uri": quote(uri), "uriBaseId": "%SRCROOT%"},
            "region": {"startLine": line},
        }
    }
    if f.operation:
        location["logicalLocations"] = [{"name": f.operation, "kind": "member"}]
    return location


def build(result: ScanResult) -> dict[str, Any]:
    """The SARIF log as a dict (render() serializes it)."""
    rules: list[dict[str, Any]] = []
    rule_index: dict[str, int] = {}
    worst: dict[str, Severity] = {}
    # Findings only the source shows are results too (not graded, but worth an alert).
    every = [*result.findings, *result.source_findings]
    for f in every:
        if f.kind not in worst or f.severity.rank > worst[f.kind].rank:
            worst[f.kind] = f.severity
    for f in every:
        if f.kind in rule_index:
            continue
        # A rule's severity is the worst seen for its kind, so dashboards never under-rank it.
        sev = worst[f.kind]
        help_text = f.remediation or f.description or f.title
        weak = weaknesses.lookup(f.kind, f.category)
        refs = list(dict.fromkeys([*f.references, *weak.references]))
        cwe = f.cwe or weak.cwe
        listed = "".join(f"\n- {r}" for r in refs)
        markdown = f"{f.description}\n\n{help_text}" + (
            f"\n\n#### References{listed}" if listed else ""
        )
        rule: dict[str, Any] = {
            "id": f.kind,
            "name": _rule_name(f.kind),
            "shortDescription": {"text": f.title},
            "help": {"text": help_text, "markdown": markdown.strip()},
            "defaultConfiguration": {"level": LEVEL[sev]},
            "helpUri": refs[0],
            "properties": {
                "security-severity": SECURITY_SEVERITY[sev],
                # GitHub shows these tags and filters on external/cwe/cwe-N
                "tags": [f.category, "security", f"external/cwe/cwe-{cwe}"],
                "category": f.category,
                "cwe": f"CWE-{cwe}",
                "references": refs,
                "precision": PRECISION.get(f.confidence.value, "medium"),
            },
        }
        if f.description:
            rule["fullDescription"] = {"text": f.description}
        rule_index[f.kind] = len(rules)
        rules.append(rule)

    results: list[dict[str, Any]] = []
    for f in every:
        props: dict[str, Any] = {
            "severity": f.severity.value,
            "confidence": f.confidence.value,
            "category": f.category,
            "operation": f.operation,
            "operationUrl": operation_url(result.target, f.operation),
            "input": f.input,
            "evidence": f.evidence.summary,
            "security-severity": SECURITY_SEVERITY[f.severity],
        }
        curl = _first_curl(f)
        if curl:
            props["curl"] = curl
        if f.evidence.interactions:
            props["oobInteractions"] = [
                f"{i.protocol} from {i.source_ip}:{i.source_port}"
                + (f" {i.dns_qtype} {i.dns_qname}" if i.dns_qname else "")
                + (f" {i.http_method or ''} {i.http_path}" if i.http_path else "")
                for i in f.evidence.interactions
            ]
        results.append(
            {
                "ruleId": f.kind,
                "ruleIndex": rule_index[f.kind],
                "level": LEVEL[f.severity],
                "message": {"text": _message(f, result.target)},
                "locations": [_location(result, f)],
                "partialFingerprints": {"firebrick/v1": f.fingerprint},
                "properties": props,
            }
        )

    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "firebrick",
                "version": result.tool_version,
                "semanticVersion": result.tool_version,
                "rules": rules,
            }
        },
        "results": results,
        "invocations": [
            {
                "executionSuccessful": result.complete,
                "toolExecutionNotifications": [
                    {"level": "warning", "message": {"text": w}} for w in result.warnings
                ],
            }
        ],
        "properties": {
            "target": result.target,
            "mode": result.mode,
            "score": result.score,
            "grade": result.grade,
            "startedAt": result.started_at,
            "finishedAt": result.finished_at,
            "complete": result.complete,
            "gradeStatus": "incomplete"
            if result.grade_incomplete
            else ("graded" if result.grade else "none"),
            "coverage": result.coverage_summary.to_dict()
            if result.coverage_summary is not None
            else None,
            "coverageLines": coverage_lines(result),
        },
    }
    # SARIF date-times must be RFC 3339; only copy ours when they parse as such.
    inv = run["invocations"][0]
    for key, value in (("startTimeUtc", result.started_at), ("endTimeUtc", result.finished_at)):
        if _is_rfc3339(value):
            inv[key] = value
    return {"$schema": SARIF_SCHEMA_URI, "version": "2.1.0", "runs": [run]}


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def _is_rfc3339(value: str) -> bool:
    return bool(_RFC3339.match(value or ""))


def render(result: ScanResult) -> str:
    return json.dumps(build(result), indent=2, ensure_ascii=False) + "\n"
