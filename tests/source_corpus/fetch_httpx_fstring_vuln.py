# shape: fetch
# expect: source.ssrf POST /api/preview
import httpx
from flask import Blueprint, Flask, jsonify, request

bp = Blueprint("preview", __name__, url_prefix="/api")


@bp.post("/preview")
def preview():
    data = request.get_json()
    host = data["site"]["host"]
    with httpx.Client(timeout=3) as client:
        r = client.get(f"https://{host}/index.html")
    return jsonify(status=r.status_code)


app = Flask(__name__)
app.register_blueprint(bp)
