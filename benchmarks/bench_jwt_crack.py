"""How fast firebrick tries short JWT secrets offline (checks/jwt.py crack_short).

Prints one row per case: candidates tried, seconds, candidates per second, and whether the
secret was found. The last row is the full space (1,586,364 candidates) with an unbounded
budget: how long a token with a long secret costs at most when given the time.

    PYTHONPATH=src python3 benchmarks/bench_jwt_crack.py
"""

from __future__ import annotations

import hmac
import time

from firebrick.checks import jwt as jwtlib

CLAIMS = {"sub": "alice", "role": "user", "exp": 1_900_000_000}


def token(secret: str) -> jwtlib.Token:
    raw = jwtlib.sign({"alg": "HS256", "typ": "JWT"}, CLAIMS, secret)
    tok = jwtlib.parse(raw)
    assert tok is not None
    return tok


def hmac_new_rate(n: int = 200_000) -> float:
    """The naive loop, for comparison: hmac.new per candidate."""
    tok = token("x" * 40)
    msg = tok.signing_input
    keys = [str(i).encode() for i in range(n)]
    started = time.perf_counter()
    for k in keys:
        hmac.new(k, msg, "sha256").digest()
    return n / (time.perf_counter() - started)


def main() -> None:
    print(f"{'case':<34} {'tried':>10} {'seconds':>8} {'per second':>12}  found")
    for label, secret, budget in (
        ("6-digit secret 482913", "482913", 60.0),
        ("6-digit secret 999999 (last)", "999999", 60.0),
        ("4 lowercase letters 'zzzz' (last)", "zzzz", 60.0),
        ("long secret, default budget", "x" * 40, jwtlib.BRUTE_BUDGET_S),
        ("long secret, whole space", "x" * 40, 600.0),
    ):
        r = jwtlib.crack_short(token(secret), budget)
        rate = r.tried / r.seconds if r.seconds else 0.0
        print(f"{label:<34} {r.tried:>10,} {r.seconds:>8.2f} {rate:>12,.0f}  {r.secret!r}")
    print(f"{'hmac.new loop (reference)':<34} {'':>10} {'':>8} {hmac_new_rate():>12,.0f}")


if __name__ == "__main__":
    main()
