"""``python -m firebrick.netlab.services``: internal services of the network lab's namespace.

Run with ``ip netns exec``: serves the metadata imitation (lab/canaries.py) at
169.254.169.254:80, the address cloud metadata really has, which exists only inside the lab's
namespace. Prints one JSON line when listening; exits when stdin closes or the parent dies.
"""

from __future__ import annotations

import argparse
import json
import sys

from firebrick.lab.__main__ import _die_with_parent, _host_port, _watch_stdin
from firebrick.lab.canaries import metadata_app, quiet_server, serve_until_interrupted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m firebrick.netlab.services")
    parser.add_argument("--metadata", type=_host_port, default=("169.254.169.254", 80))
    args = parser.parse_args(argv)
    _die_with_parent()
    _watch_stdin()
    server = quiet_server(args.metadata[0], args.metadata[1], metadata_app)
    print(json.dumps({"metadata": f"http://{args.metadata[0]}:{args.metadata[1]}"}), flush=True)
    serve_until_interrupted(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
