# shape: rebinding
# expect: source.ssrf-rebinding GET /fetch
import ipaddress
import socket
from urllib.parse import urlsplit

import requests
from flask import Flask, request

app = Flask(__name__)


class Refused(Exception):
    pass


def check_url(url):
    host = urlsplit(url).hostname
    for info in socket.getaddrinfo(host, 80):
        if not ipaddress.ip_address(info[4][0]).is_global:
            raise Refused(host)


@app.get("/fetch")
def fetch():
    url = request.args["url"]
    check_url(url)
    return requests.get(url, timeout=5, allow_redirects=False).text
