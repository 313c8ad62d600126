# shape: service
# expect: source.service-plain-http
# expect: source.service-no-timeout
import os

import requests
from flask import Flask

app = Flask(__name__)
PAYMENT_HOST = os.environ.get("PAYMENT_SERVICE_HOST", "payments.internal")


def charge(amount):
    return requests.post(f"http://{PAYMENT_HOST}/charge", json={"amount": amount}).json()


@app.post("/checkout")
def checkout():
    return charge(100)
