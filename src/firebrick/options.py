"""ScanOptions: every knob of a scan, with its default, in one place.

Values come from (lowest to highest precedence) these defaults, a ``firebrick.toml`` in the
working directory (``[scan]`` table), ``FIREBRICK_*`` environment variables, and command-line flags.
"""

from __future__ import annotations

import base64
import math
import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from firebrick.errors import UsageError

MODES = ("safe", "full", "passive")
# -H values under these names are not credentials: they are not redacted from reports.
NOT_SECRET_HEADERS = frozenset({"accept", "accept-language", "content-type", "user-agent"})


@dataclass
class ScanOptions:
    target: str = ""
    spec: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    mode: str = "safe"
    rate: float = 10.0  # requests per second to the target host
    concurrency: int = 0  # requests in flight at once; 0: sized from the rate (http.py)
    max_time: float = 120.0  # hard wall-clock limit of the scan, seconds
    budget: int = 2000  # requests per scan
    per_operation_budget: int = 200  # requests per operation
    timeout: float = 10.0  # per request, seconds
    max_response_bytes: int = 1_048_576  # bytes of a response body kept
    max_spec_bytes: int = (
        33_554_432  # 32 MiB: an OpenAPI document (file or served) larger is refused
    )
    max_operations: int = (
        500  # operations tested; beyond it a sample is taken and the rest reported
    )
    crawl: bool = True
    guess_params: bool = True
    # OOB server
    oob: bool = True
    oob_listen: str = "127.0.0.1"
    oob_http_port: int = 0
    oob_https_port: int = 0
    oob_dns_port: int = 0
    oob_zone: str = "oob.firebrick.test"
    oob_advertise: str | None = None  # address the target calls back; default: oob_listen
    # An "inside" listener is only meaningful when the target shares this machine's loopback.
    oob_inside: str | None = "auto"  # "auto" | an address | None (off)
    oob_grace: float = 1.5  # seconds to wait for late interactions while payloads are outstanding
    # A shared OOB service (`firebrick oob-server` with its client API) instead of local listeners.
    oob_server: str | None = None  # https://host[:port] of its API
    oob_key: str | None = field(default=None, repr=False)  # never shown: repr, reports, errors
    oob_ca: str | None = None  # PEM to verify the API's certificate (default: system CAs)
    checks: list[str] = field(default_factory=list)  # empty: all registered checks
    # Named identities for cross-identity authorization tests: name -> headers (--identity).
    identities: dict[str, dict[str, str]] = field(default_factory=dict)
    burst: int = 30  # requests of the rate-limit burst against one cheap operation (0: none)
    # Seconds per token (at most 2 per scan) for trying every short numeric/lowercase JWT secret
    # offline; 0 turns it off (FIREBRICK_JWT_CRACK_SECONDS, jwt_crack_seconds in firebrick.toml).
    jwt_crack_seconds: float = 3.0
    # Login flows (firebrick.auth): --login URL|"POST /path" with --username/--password
    # (FIREBRICK_USERNAME / FIREBRICK_PASSWORD) and/or --login-user NAME USER PASSWORD.
    login: str | None = None
    username: str | None = None
    password: str | None = None  # "env:NAME" reads the environment
    login_users: list[tuple[str, str, str]] = field(default_factory=list)
    login_body: str = "auto"  # auto | json | form
    login_fields: str | None = None  # "userfield,passwordfield"
    token_pointer: str | None = None  # JSON pointer to the token in the login answer
    login_header: str = "Authorization: Bearer {token}"
    max_relogins: int = 10  # fresh logins per identity after 401s/expiry
    oauth2_token_url: str | None = None
    oauth2_client_id: str | None = None
    oauth2_client_secret: str | None = None
    oauth2_scope: str | None = None
    register: bool = False  # create two throwaway accounts (full mode only)
    # Transport
    proxy: str | None = None  # every request through this (intercepting) proxy
    insecure: bool = False  # do not verify the target's TLS certificate
    ca_cert: str | None = None  # trust this CA bundle for the target (a staging host's CA)
    # The user's scope (sideeffects.Rule): "[METHOD ]glob" or "[METHOD ]re:regex", repeatable.
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    # Operations and links the user vouches are read-only although the classifier says they look
    # state-changing ("GET /api/run-report"): never DELETE, never past --exclude.
    assume_safe: list[str] = field(default_factory=list)
    # Delete what the scan created where a matching delete exists; None: on in full mode only.
    cleanup: bool | None = None

    @property
    def cleanup_enabled(self) -> bool:
        if self.cleanup is None:
            return self.mode == "full"
        if isinstance(self.cleanup, str):  # from FIREBRICK_CLEANUP
            return self.cleanup.strip().lower() in ("1", "true", "yes", "on")
        return bool(self.cleanup)

    # Secret values besides -H/--identity/URL userinfo (login passwords, tokens they yield):
    # redacted from every output like those (firebrick.redact).
    extra_secrets: list[str] = field(default_factory=list)

    def secrets(self) -> list[str]:
        """Every value the user gave us as a secret, for redaction."""
        values = [v for k, v in self.headers.items() if k.lower() not in NOT_SECRET_HEADERS]
        for headers in self.identities.values():
            values += [v for k, v in headers.items() if k.lower() not in NOT_SECRET_HEADERS]
        values += [p for _name, _user, p in self.login_users]
        values += [v for v in (self.password, self.oauth2_client_secret, self.oob_key) if v]
        return [v for v in values + self.extra_secrets if v and not v.startswith("env:")]

    def absorb_userinfo(self) -> None:
        """``http://user:pw@host`` -> target ``http://host`` and an Authorization header (Basic),
        unless one was given: the credentials are sent, counted and redacted like ``-H``."""
        try:
            parts = urlsplit(self.target)
        except ValueError:
            return
        if "@" not in parts.netloc:
            return
        userinfo, _, hostport = parts.netloc.rpartition("@")
        user, _, password = userinfo.partition(":")
        user, password = unquote(user), unquote(password)
        self.target = urlunsplit(parts._replace(netloc=hostport))
        if not any(k.lower() == "authorization" for k in self.headers):
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            self.headers["Authorization"] = f"Basic {token}"
        self.extra_secrets += [v for v in (f"{user}:{password}", password) if v]

    def validate(self) -> None:
        """Raise UsageError with one clear line for a value a scan cannot run with."""
        self.absorb_userinfo()
        try:
            parts = urlsplit(self.target)
        except ValueError as exc:
            raise UsageError(f"invalid target URL {self.target!r}: {exc}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(
                f"invalid target URL {self.target!r}: expected http(s)://host[:port][/path]"
            )
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            raise UsageError(f"invalid port in target URL {self.target!r}") from None
        if self.mode not in MODES:
            raise UsageError(f"invalid mode {self.mode!r}: choose one of {', '.join(MODES)}")
        # `not x > 0` also refuses nan; inf is refused by isfinite
        if not (self.rate > 0 and math.isfinite(self.rate)):
            raise UsageError(f"--rate must be a number greater than 0, got {self.rate}")
        if not (self.max_time > 0 and math.isfinite(self.max_time)):
            raise UsageError(
                f"--max-time must be a number of seconds greater than 0, got {self.max_time}"
            )
        if not (self.timeout > 0 and math.isfinite(self.timeout)):
            raise UsageError(
                f"--timeout must be a number of seconds greater than 0, got {self.timeout}"
            )
        if self.max_spec_bytes < 1 or self.max_operations < 1 or self.max_response_bytes < 1:
            raise UsageError("size and operation limits must be at least 1")
        for name, value in [
            *self.headers.items(),
            *(kv for h in self.identities.values() for kv in h.items()),
        ]:
            check_header(name, value)
        if self.checks:
            from firebrick.checks import CHECKS  # late: the registry imports every check

            known = {c.name for c in CHECKS} | {c.category for c in CHECKS}
            unknown = [c for c in self.checks if c not in known]
            if unknown:
                raise UsageError(
                    f"unknown check {unknown[0]!r}: choose from {', '.join(sorted(known))}"
                )
        if self.concurrency < 0:
            raise UsageError("concurrency must be 0 (sized from the rate) or more")
        if self.budget < 1 or self.per_operation_budget < 1:
            raise UsageError("request budgets must be at least 1")
        if not 0 <= self.burst <= 500:
            raise UsageError("--burst must be between 0 and 500")
        if not 0 <= self.jwt_crack_seconds <= 600:  # also refuses nan
            raise UsageError("jwt_crack_seconds must be between 0 and 600")
        if self.oob_server:
            from firebrick.oob.client import OOBRemoteError, validate_server_url

            try:
                validate_server_url(self.oob_server)
            except OOBRemoteError as exc:
                raise UsageError(str(exc)) from None
            if not self.oob_key:
                raise UsageError("--oob-server needs a key: --oob-key or FIREBRICK_OOB_KEY")
            if self.oob_ca and not Path(self.oob_ca).is_file():
                raise UsageError(f"--oob-ca {self.oob_ca}: no such file")
        if self.register and self.mode != "full":
            raise UsageError("--register creates accounts: it needs --mode full")
        if self.proxy is not None:
            proxy = urlsplit(self.proxy)
            if proxy.scheme not in ("http", "https") or not proxy.hostname:
                raise UsageError(f"invalid --proxy {self.proxy!r}: expected http://host:port")
        if self.ca_cert is not None and not Path(self.ca_cert).is_file():
            raise UsageError(f"--ca-cert {self.ca_cert}: no such file")
        if self.ca_cert is not None and self.insecure:
            raise UsageError("--ca-cert and --insecure contradict each other: choose one")
        from firebrick.sideeffects import parse_rules  # raises UsageError for a bad rule

        parse_rules(self.include, "--include")
        parse_rules(self.exclude, "--exclude")
        parse_rules(self.assume_safe, "--assume-safe")


def _coerce(name: str, current: Any, raw: Any) -> Any:
    if isinstance(current, bool):
        if isinstance(raw, bool):
            return raw
        return str(raw).strip().lower() in ("1", "true", "yes", "on")
    if isinstance(current, int) and not isinstance(current, bool):
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise UsageError(f"{name} must be a whole number, got {raw!r}") from None
    if isinstance(current, float):
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise UsageError(f"{name} must be a number, got {raw!r}") from None
    return raw


def load_options(overrides: dict[str, Any], config_path: Path | None = None) -> ScanOptions:
    """Defaults < firebrick.toml [scan] < FIREBRICK_<NAME> env < overrides (flags, None = unset)."""
    opts = ScanOptions()
    names = {f.name for f in fields(ScanOptions)}
    path = config_path or Path("firebrick.toml")
    if path.is_file():
        try:
            table = tomllib.loads(path.read_text()).get("scan", {})
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise UsageError(f"cannot read {path}: {exc}") from None
        for key, value in table.items():
            key = key.replace("-", "_")
            if key not in names:
                raise UsageError(f"{path}: unknown option {key!r} in [scan]")
            if key in ("include", "exclude", "assume_safe") and isinstance(value, str):
                value = [value]
            setattr(opts, key, _coerce(key, getattr(opts, key), value))
    for name in names:
        env = os.environ.get(f"FIREBRICK_{name.upper()}")
        if env is not None and name not in (
            "headers",
            "checks",
            "target",
            "identities",
            "login_users",
        ):
            if name in ("include", "exclude", "assume_safe"):  # FIREBRICK_EXCLUDE="/a/*,POST /r"
                setattr(opts, name, [v for v in env.split(",") if v.strip()])
            elif name == "cleanup":
                setattr(opts, name, env.strip().lower() in ("1", "true", "yes", "on"))
            else:
                setattr(opts, name, _coerce(name, getattr(opts, name), env))
    for key, value in overrides.items():
        if value is not None:
            setattr(opts, key, _coerce(key, getattr(opts, key), value) if key in names else value)
    return opts


def parse_header(raw: str) -> tuple[str, str]:
    """``"Name: value"`` -> (name, value); UsageError for anything else."""
    name, sep, value = raw.partition(":")
    if not sep or not name.strip() or any(c in name for c in " \t\r\n"):
        raise UsageError(f'invalid header {raw!r}: expected "Name: value"')
    name, value = name.strip(), value.strip()
    check_header(name, value)
    return name, value


_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # RFC 9110 field-name


def check_header(name: str, value: str) -> None:
    """UsageError for a header that cannot be sent as given. The value is never echoed: it is
    usually a credential."""
    if not _TOKEN.match(name):
        raise UsageError(f"invalid header name {name!r}: only letters, digits and !#$%&'*+-.^_`|~")
    if any(c in value for c in "\r\n\0"):
        raise UsageError(f"invalid value for header {name}: it contains a line break or NUL")
    if not value.isascii():
        raise UsageError(
            f"invalid value for header {name}: only ASCII characters can be sent in a header "
            "(percent- or base64-encode the value)"
        )
    if any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in value):
        raise UsageError(f"invalid value for header {name}: it contains a control character")
