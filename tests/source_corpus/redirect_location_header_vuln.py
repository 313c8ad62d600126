# shape: redirect
# expect: source.open-redirect GET /out
from flask import Flask, Response, request

app = Flask(__name__)


@app.get("/out")
def out():
    resp = Response(status=302)
    resp.headers["Location"] = request.args["to"]
    return resp
