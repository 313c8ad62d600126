# shape: weak-guard
# expect: source.ssrf-weak-guard GET /proxy
import requests
from flask import Flask, request

app = Flask(__name__)


@app.get("/proxy")
def proxy():
    target = request.args.get("target", "")
    if "localhost" in target or "127.0.0.1" in target:
        return {"error": "not allowed"}, 400
    return requests.get(target, timeout=5).text
