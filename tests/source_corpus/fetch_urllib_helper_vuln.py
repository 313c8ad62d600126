# shape: fetch
# expect: source.ssrf POST /webhooks
import json
import urllib.request

from flask import Flask, request

app = Flask(__name__)


def deliver(target, payload):
    req = urllib.request.Request(target, data=json.dumps(payload).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=3) as resp:
        return resp.status


@app.route("/webhooks", methods=["POST"])
def webhooks():
    hook = request.form.get("callback_url")
    status = deliver(hook, {"event": "ping"})
    return {"delivered": status}
