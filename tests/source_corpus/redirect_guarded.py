# shape: redirect
# expect: none
from urllib.parse import urlsplit

from flask import Flask, redirect, request, url_for

app = Flask(__name__)


@app.get("/login/done")
def login_done():
    target = request.args.get("next", "")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return redirect(url_for("index"))
    return redirect(target)


@app.get("/items/<int:item_id>/go")
def go(item_id):
    return redirect(f"/items/{item_id}")  # the app's own path: not an open redirect


@app.get("/")
def index():
    return "ok"
