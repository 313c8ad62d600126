# shape: weak-guard
# expect: source.ssrf-weak-guard GET /avatar
import ipaddress
from urllib.parse import urlsplit

import requests
from flask import Flask, abort, request

app = Flask(__name__)


def is_internal(url):
    host = urlsplit(url).hostname or ""
    try:
        return ipaddress.ip_address(host).is_private
    except ValueError:
        return False  # a name: looks fine to this check


@app.get("/avatar")
def avatar():
    src = request.args["src"]
    if is_internal(src):
        abort(400)
    return requests.get(src, timeout=5).content
