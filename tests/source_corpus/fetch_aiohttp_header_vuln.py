# shape: fetch
# expect: source.ssrf GET /relay
import aiohttp
from flask import Flask, request

app = Flask(__name__)


@app.get("/relay")
async def relay():
    upstream = request.headers.get("X-Upstream")
    async with aiohttp.ClientSession() as session:
        async with session.get(upstream) as resp:
            return await resp.text()
