# shape: fetch
# expect: none
# Request data that never chooses where a request goes.
from urllib.parse import urljoin

import requests
from flask import Flask, redirect, request, url_for

app = Flask(__name__)
API = "https://api.example.com"


@app.get("/search")
def search():
    r = requests.get(API + "/search", params={"q": request.args["q"]}, timeout=5)
    return r.json()


@app.post("/notify")
def notify():
    body = request.get_json()
    requests.post("https://hooks.example.com/notify", json=body, timeout=5)
    return {"ok": True}


@app.get("/asset")
def asset():
    name = request.args.get("name", "logo.png")
    return requests.get(urljoin(API, "/static/" + name), timeout=5).content


@app.get("/as")
def impersonate():
    who = request.headers.get("X-User", "")
    return requests.get(f"{API}/me", headers={"X-User": who}, timeout=5).json()


@app.get("/profile")
def profile():
    return redirect(url_for("search", q=request.args.get("name", "")))
