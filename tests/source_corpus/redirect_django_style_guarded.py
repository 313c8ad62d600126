# shape: redirect
# expect: none
from flask import Flask, redirect, request
from django.utils.http import url_has_allowed_host_and_scheme

app = Flask(__name__)


@app.get("/continue")
def continue_to():
    target = request.args.get("next", "/")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={"www.example.com"}):
        target = "/"
    return redirect(target)
