# shape: fetch
# expect: none
from flask import Flask, request
from ssrfguard import Policy
from ssrfguard.httpx import Client

app = Flask(__name__)
POLICY = Policy()


@app.route("/fetch")
def fetch():
    url = request.args["url"]
    with Client(policy=POLICY, timeout=3.0) as client:
        return client.get(url).text
