# shape: fetch
# expect: source.ssrf GET /mirror/{target}
import requests
from flask import Flask

app = Flask(__name__)


@app.route("/mirror/<path:target>")
def mirror(target):
    return requests.get("http://" + target, timeout=5).content
