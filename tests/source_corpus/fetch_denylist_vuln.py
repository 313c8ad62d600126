# shape: weak-guard
# expect: source.ssrf-weak-guard GET /preview
from urllib.parse import urlparse

import requests
from flask import Flask, abort, request

app = Flask(__name__)
BLOCKED = ("localhost", "127.0.0.1", "0.0.0.0")


@app.get("/preview")
def preview():
    link = request.args["link"]
    if urlparse(link).hostname in BLOCKED:
        abort(400)
    return requests.get(link, timeout=5).text
