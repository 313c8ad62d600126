# shape: fetch
# expect: source.ssrf GET /feed
import requests
from flask import Flask, abort, request

app = Flask(__name__)


@app.get("/feed")
def feed():
    feed_url = request.args["feed_url"]
    if not feed_url.startswith(("http://", "https://")):
        abort(400)
    return requests.get(feed_url, timeout=5).text
