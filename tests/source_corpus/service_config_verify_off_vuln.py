# shape: service
# expect: source.service-tls-unverified
# expect: source.service-follows-redirects
import httpx
from flask import Flask, current_app

app = Flask(__name__)


@app.get("/stock")
def stock():
    base = current_app.config["INVENTORY_URL"]
    r = httpx.get(f"{base}/stock", verify=False, follow_redirects=True, timeout=3)
    return r.json()
