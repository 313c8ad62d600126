# shape: fetch
# expect: none
# The project's copy of firebrick's standard-library safe fetcher.
from flask import Flask, request

from myapp.safe_fetch import BlockedURL, safe_fetch

app = Flask(__name__)


@app.post("/import")
def import_document():
    source = request.json["source_url"]
    try:
        result = safe_fetch(source, timeout=3)
    except BlockedURL:
        return {"error": "url not allowed"}, 400
    return {"bytes": len(result.body)}
