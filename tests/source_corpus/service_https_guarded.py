# shape: service
# expect: none
import os

import requests
from flask import Flask

app = Flask(__name__)
PAYMENT_URL = os.environ["PAYMENT_URL"]  # https://payments.example.com


def charge(amount):
    r = requests.post(
        f"{PAYMENT_URL}/charge", json={"amount": amount}, timeout=(3, 10), allow_redirects=False
    )
    return r.json()


@app.post("/checkout")
def checkout():
    return charge(100)
