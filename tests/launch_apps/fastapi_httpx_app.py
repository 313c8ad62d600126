"""A FastAPI app using httpx, scanned through `firebrick scan --launch` (tests/test_launch.py).

GET /fetch?url=           vulnerable: httpx follows the URL anywhere, body reflected
GET /fetch-safe?url=      hardened twin: ssrfguard's httpx client (the printed fix)
POST /hooks {"url"}       vulnerable background task (BackgroundTasks), blind
POST /hooks-safe {"url"}  hardened twin of the background task
"""

from __future__ import annotations

import contextlib

import httpx
from fastapi import BackgroundTasks, FastAPI, HTTPException
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel
from ssrfguard import SSRFGuardError

from firebrick.remediation.snippets import safe_fetch_ssrfguard as sg

app = FastAPI(title="launch test: FastAPI + httpx")


class Hook(BaseModel):
    url: str


def _plain(url: str) -> bytes:
    with httpx.Client(timeout=3.0, follow_redirects=True, trust_env=False) as client:
        return client.get(url).content


def _safe(url: str) -> bytes:
    return sg.guarded_fetch(url)[1]


@app.get("/fetch", response_class=PlainTextResponse)
def fetch(url: str) -> str:
    try:
        return _plain(url).decode("utf-8", "replace")
    except (httpx.HTTPError, ValueError) as exc:
        raise HTTPException(502, "fetch failed") from exc


@app.get("/fetch-safe", response_class=PlainTextResponse)
def fetch_safe(url: str) -> str:
    try:
        return _safe(url).decode("utf-8", "replace")
    except (SSRFGuardError, httpx.InvalidURL) as exc:
        raise HTTPException(400, "url not allowed") from exc
    except (httpx.HTTPError, sg.TooLarge, OSError) as exc:
        raise HTTPException(502, "fetch failed") from exc


def _quietly(fetch: object, url: str) -> None:
    with contextlib.suppress(Exception):  # a background job logs and moves on
        fetch(url)  # type: ignore[operator]


@app.post("/hooks", status_code=202)
def hooks(hook: Hook, tasks: BackgroundTasks) -> dict[str, str]:
    tasks.add_task(_quietly, _plain, hook.url)
    return {"status": "queued"}


@app.post("/hooks-safe", status_code=202)
def hooks_safe(hook: Hook, tasks: BackgroundTasks) -> dict[str, str]:
    tasks.add_task(_quietly, _safe, hook.url)
    return {"status": "queued"}
