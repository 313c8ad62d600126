# shape: fetch
# expect: source.ssrf POST /api/hooks
import httpx
from flask import Flask, request
from flask.views import MethodView

app = Flask(__name__)


class HookAPI(MethodView):
    def get(self):
        return {"hooks": []}

    def post(self):
        url = request.get_json()["url"]
        httpx.post(url, json={"event": "created"}, timeout=3)
        return {"ok": True}, 201


app.add_url_rule("/api/hooks", view_func=HookAPI.as_view("hooks"))
