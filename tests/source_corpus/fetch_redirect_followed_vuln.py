# shape: redirect-follow
# expect: source.ssrf-redirect-unchecked GET /feed
from urllib.parse import urljoin

import requests
from flask import Flask, request

from myapp.safe_fetch import safe_fetch

app = Flask(__name__)


@app.get("/feed")
def feed():
    feed_url = request.args["feed_url"]
    first = safe_fetch(feed_url, follow_redirects=False)
    location = first.headers.get("Location")
    if location:
        return requests.get(urljoin(feed_url, location), timeout=5).text
    return first.body
