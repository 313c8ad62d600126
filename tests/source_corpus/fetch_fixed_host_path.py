# shape: fetch
# expect: none
# The caller chooses only a path segment and a query value on a fixed host: not SSRF.
import requests
from flask import Flask, request

app = Flask(__name__)
API = "https://api.example.com"


@app.get("/users/<name>")
def user(name):
    r = requests.get(f"{API}/users/{name}", params={"q": request.args.get("q")}, timeout=5)
    return r.json()


@app.get("/repos")
def repos():
    org = request.args.get("org", "")
    return requests.get("https://api.example.com/orgs/" + org + "/repos", timeout=5).json()
