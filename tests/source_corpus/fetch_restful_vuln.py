# shape: fetch
# expect: source.ssrf GET /v1/fetch
import urllib3
from flask import Flask
from flask_restful import Api, Resource, reqparse

app = Flask(__name__)
api = Api(app)
http = urllib3.PoolManager()
parser = reqparse.RequestParser()
parser.add_argument("url")


class Fetch(Resource):
    def get(self):
        args = parser.parse_args()
        r = http.request("GET", args["url"])
        return {"status": r.status}


api.add_resource(Fetch, "/v1/fetch")
