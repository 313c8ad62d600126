"""`firebrick worker` and `firebrick fleet submit`: scans on a Celery fleet (docs/fleet.md)."""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import click

BROKER = click.option(
    "--broker",
    envvar="FIREBRICK_BROKER",
    default="redis://127.0.0.1:6379/0",
    show_default=True,
    help="Celery broker (Redis) [env FIREBRICK_BROKER].",
)
DATABASE = click.option(
    "--database",
    envvar="FIREBRICK_DATABASE",
    required=True,
    help="The shared database: postgresql://… (or sqlite:///PATH on one machine) [env FIREBRICK_DATABASE].",
)


@click.command("worker", short_help="Run a Celery worker that runs scans (the fleet).")
@BROKER
@DATABASE
@click.option("--concurrency", "-c", type=int, default=2, show_default=True, help="Scans at once.")
@click.option("--name", default=None, help="Worker name [default: firebrick-<random>@host].")
@click.option("--max-time", type=float, default=300.0, show_default=True, help="Per scan, seconds.")
@click.option(
    "--visibility-timeout",
    type=int,
    default=None,
    help="Seconds before a dead worker's scan goes to another worker [default: max-time + 180].",
)
@click.option(
    "--oob-server", envvar="FIREBRICK_OOB_SERVER", default=None, help="Shared OOB service URL."
)
@click.option(
    "--oob-key", envvar="FIREBRICK_OOB_KEY", default=None, help="Its key [env FIREBRICK_OOB_KEY]."
)
@click.option("--allow-network", "allow_networks", multiple=True, metavar="CIDR")
def worker(
    broker: str,
    database: str,
    concurrency: int,
    name: str | None,
    max_time: float,
    visibility_timeout: int | None,
    oob_server: str | None,
    oob_key: str | None,
    allow_networks: tuple[str, ...],
) -> None:
    """Run scans from the fleet's queue until stopped (SIGTERM finishes the running scans;
    a worker killed outright has its scans run again by another worker)."""
    from celery.signals import worker_ready

    from firebrick.errors import UsageError
    from firebrick.fleet.app import make_app
    from firebrick.server.db import Database
    from firebrick.target_policy import parse_networks

    if concurrency < 1 or max_time <= 0:
        raise UsageError("--concurrency and --max-time must be positive")
    parse_networks(allow_networks)  # one clear line for a bad CIDR, before anything starts
    Database(database).close()  # migrations applied and the database reachable, or exit 3
    settings: dict[str, Any] = {
        "firebrick_database": database,
        "firebrick_max_time": max_time,
        "firebrick_allow_networks": tuple(allow_networks),
        "firebrick_oob_server": oob_server,
        "firebrick_oob_key": oob_key,
    }
    if visibility_timeout is not None:
        settings["visibility_timeout"] = visibility_timeout
    app = make_app(broker, **settings)

    @worker_ready.connect
    def ready(**_: Any) -> None:
        print(f"firebrick worker: ready ({concurrency} at once)", file=sys.stderr, flush=True)

    argv = [
        "worker",
        "-Q",
        "firebrick",
        "-c",
        str(concurrency),
        "--loglevel",
        "WARNING",
        "--without-gossip",
        "--without-mingle",
        "-n",
        name or f"firebrick-{uuid.uuid4().hex[:6]}@%h",
    ]
    app.worker_main(argv=argv)


@click.group("fleet", short_help="Queue scans for the fleet's workers.")
def fleet() -> None:
    """Queue scans for `firebrick worker` processes and follow them."""


def _read_targets(path: str) -> list[dict[str, Any]]:
    from firebrick.errors import UsageError

    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    out: list[dict[str, Any]] = []
    for n, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("{"):
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UsageError(f"{path}:{n}: invalid JSON: {exc.msg}") from None
        else:
            parts = line.split()
            item = {"url": parts[0], **({"spec_url": parts[1]} if len(parts) > 1 else {})}
        if not isinstance(item, dict) or "url" not in item:
            raise UsageError(f"{path}:{n}: a target needs a url")
        out.append(item)
    if not out:
        raise UsageError(f"{path}: no targets")
    return out


@fleet.command("submit", short_help="Queue a scan for every target in a file.")
@click.argument("targets_file", type=click.Path(dir_okay=False))
@BROKER
@DATABASE
@click.option("--rate", type=float, default=None, help="Requests per second per target host.")
@click.option("--check", "checks", multiple=True, help="Only these checks (repeatable).")
@click.option("--wait", "wait_s", type=float, default=None, help="Wait up to this many seconds.")
def submit(
    targets_file: str,
    broker: str,
    database: str,
    rate: float | None,
    checks: tuple[str, ...],
    wait_s: float | None,
) -> None:
    """Queue one scan per line of TARGETS_FILE: `URL [SPEC_URL]` or a JSON object
    ({"url": …, "spec_url": …, "checks": […], "rate": …}); `#` starts a comment.

    Prints one scan id per target. With --wait, waits for them and prints a summary; the exit
    code is 2 when any scan failed or did not finish in time."""
    from firebrick.errors import UsageError
    from firebrick.fleet.app import TASK, make_app
    from firebrick.server.db import Database
    from firebrick.server.runner import RequestError, now_iso, options_from_request

    targets = _read_targets(targets_file)
    for item in targets:
        if rate is not None:
            item.setdefault("rate", rate)
        if checks:
            item.setdefault("checks", list(checks))
        try:
            options_from_request(item, default_rate=10.0, max_time=300.0)
        except RequestError as exc:
            raise UsageError(f"{item.get('url')}: {exc.message}") from None
    db = Database(database)
    app = make_app(broker)
    ids = []
    for item in targets:
        scan_id = uuid.uuid4().hex[:16]
        db.execute(
            "INSERT INTO scans (id, key_id, target, request_json, status, created_at)"
            " VALUES (?, 'fleet', ?, ?, 'queued', ?)",
            (scan_id, item["url"], json.dumps(item), now_iso()),
        )
        app.send_task(TASK, args=[scan_id])
        ids.append(scan_id)
        print(scan_id, item["url"], flush=True)
    if wait_s is None:
        return
    deadline = time.monotonic() + wait_s
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        marks = ",".join("?" for _ in ids)
        rows = db.all(f"SELECT * FROM scans WHERE id IN ({marks})", ids)
        if all(r["status"] in ("done", "failed") for r in rows):
            break
        time.sleep(0.5)  # polling the shared database: the workers write it, not us
    for r in sorted(rows, key=lambda r: r["target"]):
        score = f"{r['score']:.1f}" if r["score"] is not None else "-"
        print(f"{r['id']}  {r['status']:<8} {r['grade'] or '-':<2} {score:>6}  {r['target']}")
    if not all(r["status"] == "done" for r in rows):
        raise SystemExit(2)
