"""The data every layer shares: what discovery finds, what checks report, what reporters render.

Plain dataclasses, no behaviour beyond small derived properties and ``to_dict`` for the JSON
report. Data flows one way (discovery -> checks -> judge -> scoring -> ScanResult); nothing here
sends a request.
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from typing import Any

SCHEMA_VERSION = "2.1"  # of the JSON report; see docs/json-report.md

CATEGORIES: tuple[str, ...] = (
    "authentication",
    "bola",
    "bfla",
    "property_authorization",
    "input_validation",
    "rate_limiting",
    "data_exposure",
    "encryption",
    "ssrf",
    "inventory",
    "unsafe_consumption",
    "llm_security",
    "dns_hygiene",
)


class Severity(str, Enum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Higher is worse: critical 4 ... info 0."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {
    Severity.CRITICAL: 4,
    Severity.HIGH: 3,
    Severity.MEDIUM: 2,
    Severity.LOW: 1,
    Severity.INFO: 0,
}


class Confidence(str, Enum):
    CONFIRMED = "confirmed"
    LIKELY = "likely"
    POSSIBLE = "possible"

    @property
    def rank(self) -> int:
        return {"confirmed": 2, "likely": 1, "possible": 0}[self.value]


class Location(str, Enum):
    """Where an input travels in a request."""

    PATH = "path"
    QUERY = "query"
    HEADER = "header"
    COOKIE = "cookie"
    JSON = "json"  # a field of a JSON body; Param.json_path says which
    FORM = "form"  # a field of an application/x-www-form-urlencoded body
    GRAPHQL = "graphql"  # an argument of a GraphQL field


class InputKind(str, Enum):
    """What an input looks like it carries (discovery/params.py decides)."""

    URL = "url"
    HOST = "host"
    PORT = "port"
    PATH = "path"
    ID = "id"
    OTHER = "other"


@dataclass
class Param:
    name: str
    location: Location
    schema: dict[str, Any] = field(default_factory=dict)
    required: bool = False
    example: Any = None
    # For JSON body fields: the keys from the body root to this field, e.g. ("hook", "url").
    json_path: tuple[str, ...] = ()
    kinds: set[InputKind] = field(default_factory=set)
    # True when discovery guessed the input exists (no spec, no form): a probe may show it does not.
    guessed: bool = False

    @property
    def display(self) -> str:
        """How a report names the input: ``query:url``, ``json:hook.url``, ``graphql:host``."""
        name = ".".join(self.json_path) if self.json_path else self.name
        return f"{self.location.value}:{name}"


@dataclass
class GraphQLField:
    """A GraphQL query or mutation field that discovery found by introspection."""

    endpoint_path: str  # e.g. /graphql
    operation_type: str  # "query" | "mutation"
    name: str
    # argument name -> GraphQL type string as introspection shows it, e.g. "String!", "Int"
    arguments: dict[str, str] = field(default_factory=dict)
    # A selection that makes the field valid to query, e.g. "" for scalars, "{ status body }".
    selection: str = ""


@dataclass
class Operation:
    method: str  # upper case
    path: str  # the path template relative to the target origin, e.g. /users/{id}
    params: list[Param] = field(default_factory=list)
    source: str = "spec"  # spec | crawl | probe | graphql | guess
    operation_id: str | None = None
    summary: str = ""
    tags: list[str] = field(default_factory=list)
    # "application/json", "application/x-www-form-urlencoded", or None when no body
    body_content_type: str | None = None
    security_declared: bool = False  # the spec says credentials are required
    deprecated: bool = False
    graphql: GraphQLField | None = None

    @property
    def key(self) -> str:
        """Stable identity used in findings, budgets and fingerprints: ``GET /fetch``."""
        if self.graphql is not None:
            return f"GRAPHQL {self.graphql.endpoint_path} {self.graphql.operation_type}.{self.graphql.name}"
        return f"{self.method} {self.path}"


@dataclass
class Surface:
    """Everything discovery learned about the target."""

    base_url: str  # the target origin plus any base path, no trailing slash
    operations: list[Operation] = field(default_factory=list)
    spec_url: str | None = None  # where the spec came from (file path or URL), if any
    spec_version: str | None = None  # "2.0", "3.0.3", "3.1.0", ...
    graphql_endpoint: str | None = None
    # Facts about the target: server header, TLS, framework hints, ...
    facts: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass
class Exchange:
    """One request the scanner sent and what came back, as recorded by the ScopedClient."""

    method: str
    url: str
    request_headers: dict[str, str] = field(default_factory=dict)
    request_body: str | None = None
    status: int | None = None  # None when the request failed (see error)
    response_headers: dict[str, str] = field(default_factory=dict)
    response_excerpt: str = ""  # the first few KiB of the body, as text
    response_size: int = 0
    elapsed_ms: float = 0.0
    error: str | None = None
    identity: str | None = None  # the identity it was sent as (firebrick.auth), None: none
    # The full body as text, for checks to inspect; not serialized into reports.
    body_text: str = field(default="", repr=False, compare=False)

    @property
    def curl(self) -> str:
        """A command line that replays this request."""
        parts = ["curl", "-sS", "-i", "-X", self.method]
        skip = {"host", "content-length", "accept-encoding", "connection", "user-agent"}
        for name, value in self.request_headers.items():
            if name.lower() not in skip:
                parts += ["-H", f"{name}: {value}"]
        if self.request_body:
            parts += ["--data-raw", self.request_body]
        parts.append(self.url)
        return " ".join(shlex.quote(p) for p in parts)

    def to_dict(self) -> dict[str, Any]:
        # Field by field, not asdict(): asdict deep-copies every value, body_text included,
        # only for it to be dropped (a large share of writing a big JSON report).
        d: dict[str, Any] = {}
        for f in _EXCHANGE_FIELDS:
            value = getattr(self, f)
            d[f] = dict(value) if isinstance(value, dict) else value
        d["curl"] = self.curl
        return d


_EXCHANGE_FIELDS = tuple(f.name for f in fields(Exchange) if f.name != "body_text")


@dataclass
class Interaction:
    """One thing that reached the OOB server: an HTTP request or a DNS query."""

    protocol: str  # "http" | "https" | "dns"
    token: str | None  # the payload token it carries, if any could be read
    source_ip: str
    source_port: int
    time: float  # unix time
    listener: str = (
        "public"  # "public" (the advertised callback) | "inside" (target-internal canary)
    )
    raw: str = ""  # the raw request (HTTP) or a text dump of the query (DNS), capped
    http_method: str | None = None
    http_path: str | None = None
    http_host: str | None = None
    dns_qname: str | None = None  # exactly as received, case kept
    dns_qtype: str | None = None
    dns_txid: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Evidence:
    summary: str = ""
    exchanges: list[Exchange] = field(default_factory=list)
    interactions: list[Interaction] = field(default_factory=list)
    payloads_worked: list[str] = field(default_factory=list)
    payloads_failed: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "exchanges": [e.to_dict() for e in self.exchanges],
            "interactions": [i.to_dict() for i in self.interactions],
            "payloads_worked": list(self.payloads_worked),
            "payloads_failed": list(self.payloads_failed),
            "details": self.details,
        }


@dataclass
class SourceLocation:
    """Where in the app's source a finding lives (``firebrick code`` / ``scan --source``)."""

    file: str  # relative to the analysed project root, forward slashes
    line: int
    function: str = ""  # the view or helper, e.g. create_app.<locals>.image
    route: str | None = None  # the route(s) the view serves, e.g. "GET /api/image"
    via: list[str] = field(default_factory=list)  # helper calls between the view and the sink

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Finding:
    kind: str  # stable machine name, e.g. "ssrf.internal-read"; keys remediation and SARIF rules
    category: str  # one of CATEGORIES
    title: str
    severity: Severity
    confidence: Confidence
    operation: str | None = None  # Operation.key
    input: str | None = None  # Param.display
    description: str = ""
    evidence: Evidence = field(default_factory=Evidence)
    remediation: str = ""  # Markdown: the Flask fix (filled by remediation.render if empty)
    references: list[str] = field(default_factory=list)
    source: SourceLocation | None = None  # the view's file and line, when the source is known
    cwe: int | None = None  # the CWE id (filled by the judge from weaknesses.json)

    @property
    def fingerprint(self) -> str:
        """Stable across scans: category, kind, operation, input; never the wording."""
        raw = "|".join([self.category, self.kind, self.operation or "", self.input or ""])
        return hashlib.sha256(raw.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "kind": self.kind,
            "category": self.category,
            "title": self.title,
            "severity": self.severity.value,
            "confidence": self.confidence.value,
            "operation": self.operation,
            "input": self.input,
            "description": self.description,
            "evidence": self.evidence.to_dict(),
            "remediation": self.remediation,
            "references": list(self.references),
            "source": self.source.to_dict() if self.source is not None else None,
            "cwe": f"CWE-{self.cwe}" if self.cwe else None,
        }


class Outcome(str, Enum):
    """How one test ended: the outcome ladder (docs/scoring.md, "Coverage and the grade").

    ``passed`` is a claim that the probe reached the code under test and the code held; a probe
    that the target turned away before the logic ran is ``refused`` (with a cause), never passed.
    """

    VULNERABLE = "vulnerable"
    PASSED = "passed"
    REFUSED = "refused"
    ERROR = "error"
    NOT_DETERMINED = "not_determined"

    @property
    def is_verdict(self) -> bool:
        """True when the test reached a verdict about the code (vulnerable or passed)."""
        return self in (Outcome.VULNERABLE, Outcome.PASSED)


class Cause(str, Enum):
    """Why a test did not reach a verdict: refusal causes first, then the other reasons."""

    AUTH = "auth"  # 401/403, or a redirect to a login page
    CSRF = "csrf"  # a missing or wrong CSRF token
    ROUTE_ABSENT = "route_absent"  # 404/405/501: no such route or method
    INPUT_REJECTED = "input_rejected"  # 400/413/415/422 before the input was used
    RATE_LIMITED = "rate_limited"  # 429
    NOT_SELECTED = "not_selected"  # the check was deselected or does not run in this mode
    EXCLUDED = "excluded"  # the operation was excluded by the user or the safe mode
    NO_TARGET = "no_target"  # nothing for this test to work on (legacy "skipped")


REFUSAL_CAUSES: tuple[Cause, ...] = (
    Cause.AUTH,
    Cause.CSRF,
    Cause.ROUTE_ABSENT,
    Cause.INPUT_REJECTED,
    Cause.RATE_LIMITED,
)

# The statuses checks recorded before the outcome ladder existed, and what they mean now.
LEGACY_STATUS: dict[str, tuple[Outcome, Cause | None]] = {
    "failed": (Outcome.VULNERABLE, None),
    "inconclusive": (Outcome.NOT_DETERMINED, None),
    "skipped": (Outcome.NOT_DETERMINED, Cause.NO_TARGET),
    "not determined": (Outcome.NOT_DETERMINED, None),
    "undetermined": (Outcome.NOT_DETERMINED, None),
}


def normalize_outcome(status: str | Outcome) -> tuple[Outcome, Cause | None]:
    """An Outcome for a status string (new or legacy) and the cause the legacy form implies."""
    if isinstance(status, Outcome):
        return status, None
    value = str(status).strip().lower()
    try:
        return Outcome(value), None
    except ValueError:
        pass
    if value in LEGACY_STATUS:
        return LEGACY_STATUS[value]
    raise ValueError(f"unknown coverage status {status!r}")


@dataclass
class CoverageItem:
    """What a check tested on one operation/input and how it ended; for reports and JUnit."""

    check: str
    category: str
    operation: str | None
    input: str | None
    status: str  # an Outcome value: vulnerable | passed | refused | error | not_determined
    reason: str = ""
    cause: str | None = None  # a Cause value for refused / not_determined items

    def __post_init__(self) -> None:
        # Legacy statuses (passed/failed/skipped/inconclusive) become the ladder's values.
        outcome, implied = normalize_outcome(self.status)
        self.status = outcome.value
        if self.cause is None and implied is not None:
            self.cause = implied.value

    @property
    def outcome(self) -> Outcome:
        return normalize_outcome(self.status)[0]

    @property
    def planned(self) -> bool:
        """False for tests that were never meant to run (check deselected, operation excluded)."""
        return self.cause not in (Cause.NOT_SELECTED.value, Cause.EXCLUDED.value)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CategoryCoverage:
    category: str
    planned: int  # tests planned in this category
    verdicts: int  # of which reached a verdict (vulnerable or passed)

    @property
    def share(self) -> float:
        return self.verdicts / self.planned if self.planned else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "planned": self.planned,
            "verdicts": self.verdicts,
            "share": round(self.share, 3),
        }


@dataclass
class CoverageSummary:
    """What the scan really reached: the numbers a grade needs (coverage.py computes them)."""

    operations_discovered: int = 0
    operations_reached: int = 0
    operations_refused: dict[str, int] = field(default_factory=dict)  # cause -> operations
    operations_excluded: int = 0
    operations_untested: int = 0
    inputs_tested: int = 0  # distinct (operation, input) pairs with a verdict
    outcomes: dict[str, int] = field(default_factory=dict)  # Outcome value -> tests
    categories: list[CategoryCoverage] = field(default_factory=list)
    graded: bool = True  # False: the grade is "incomplete" (see reasons and hints)
    reasons: list[str] = field(default_factory=list)  # why the grade is incomplete
    hints: list[str] = field(default_factory=list)  # what would fix it, with the numbers
    notes: list[str] = field(default_factory=list)  # first-screen coverage notes (tokens, ids)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["categories"] = [c.to_dict() for c in self.categories]
        return d


@dataclass
class CategoryScore:
    category: str
    assessed: bool
    score: float | None  # None when not assessed
    weight: float
    findings: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class WriteRecord:
    """One request other than GET/HEAD/OPTIONS that the scan sent (the write ledger, ledger.py)."""

    method: str
    path: str  # path and query as sent
    status: int | None
    check: str
    operation: str | None = None  # Operation.key
    created: str | None = None  # id or Location of what the write created, when it told us
    cleanup: str | None = (
        None  # what --cleanup did about it: "deleted (204)", "delete failed (500)"
    )
    note: str | None = None  # e.g. "restore of role, verified by reading back"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ScanStats:
    requests_sent: int = 0
    requests_by_check: dict[str, int] = field(default_factory=dict)
    oob_interactions: int = 0
    duration_s: float = 0.0
    operations: int = 0
    inputs_tested: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ScanResult:
    target: str
    started_at: str  # ISO 8601, UTC
    finished_at: str
    mode: str
    tool_version: str
    score: float | None
    grade: str | None
    categories: list[CategoryScore] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    coverage: list[CoverageItem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stats: ScanStats = field(default_factory=ScanStats)
    complete: bool = True  # False when the time limit or budget cut the scan short
    interrupted: bool = False  # stopped by SIGINT/SIGTERM (then also not complete)
    surface: dict[str, Any] = field(default_factory=dict)  # summary for reports
    score_explanation: list[str] = field(default_factory=list)
    # What the scan reached; None only for results stored before coverage was summarised.
    coverage_summary: CoverageSummary | None = None
    # With ``scan --source``: the analysis summary and the findings only the source shows
    # (listed apart: the grade is the black-box one).
    source: dict[str, Any] | None = None
    source_findings: list[Finding] = field(default_factory=list)
    writes: list[WriteRecord] = field(default_factory=list)  # the write ledger

    @property
    def grade_incomplete(self) -> bool:
        """True when coverage is below the threshold: no letter, exit code 2."""
        return self.coverage_summary is not None and not self.coverage_summary.graded

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "firebrick", "version": self.tool_version},
            "target": self.target,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "mode": self.mode,
            "complete": self.complete,
            "interrupted": self.interrupted,
            "score": self.score,
            "grade": self.grade,
            "categories": [c.to_dict() for c in self.categories],
            "findings": [f.to_dict() for f in self.findings],
            "coverage": [c.to_dict() for c in self.coverage],
            "warnings": list(self.warnings),
            "stats": self.stats.to_dict(),
            "surface": self.surface,
            "score_explanation": list(self.score_explanation),
            "grade_status": "incomplete"
            if self.grade_incomplete
            else ("graded" if self.grade else "none"),
            "coverage_summary": self.coverage_summary.to_dict()
            if self.coverage_summary is not None
            else None,
            "source": self.source,
            "source_findings": [f.to_dict() for f in self.source_findings],
            "writes": {"count": len(self.writes), "entries": [w.to_dict() for w in self.writes]},
        }
