# shape: fetch
# expect: source.ssrf POST /api/import
import httpx
from flask import Flask, request

app = Flask(__name__)


def _client():
    return httpx.Client(timeout=3, follow_redirects=True)


def download(url):
    with httpx.Client(timeout=3) as client:
        return client.get(url).content


def import_from(source):
    return len(download(source))


@app.post("/api/import")
def import_document():
    data = request.get_json(silent=True) or {}
    return {"imported": import_from(data.get("source_url"))}
