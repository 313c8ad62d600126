"""The network lab: the lab app in a network namespace with a real recursive resolver.

See netlab/lab.py for the picture. Needs root, iproute2 and Debian's unbound / dnsmasq-base;
``missing_requirements()`` says what is missing (tests skip with that reason).
"""

from firebrick.netlab.lab import NetLab, NetLabConfig, network_scan
from firebrick.netlab.net import NetLabError, cleanup_leftovers, missing_requirements

__all__ = [
    "NetLab",
    "NetLabConfig",
    "NetLabError",
    "cleanup_leftovers",
    "missing_requirements",
    "network_scan",
]
