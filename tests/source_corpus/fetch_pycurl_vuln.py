# shape: fetch
# expect: source.ssrf POST /download
from io import BytesIO

import pycurl
from flask import Flask, request

app = Flask(__name__)


@app.post("/download")
def download():
    buf = BytesIO()
    c = pycurl.Curl()
    c.setopt(pycurl.URL, request.form["download_url"])
    c.setopt(pycurl.WRITEDATA, buf)
    c.perform()
    return buf.getvalue()
