"""The lab: real vulnerable and hardened Flask apps for firebrick's tests, demo and benchmarks.

Start it with :func:`start_lab` (a subprocess, so its network sandbox never touches the caller)
or by hand with ``python -m firebrick.lab serve --variant vulnerable``.
"""

from __future__ import annotations

from firebrick.lab.canaries import ADMIN_SECRET, INVENTORY_MARKER, METADATA_KEY, METADATA_ROLE
from firebrick.lab.runner import LabConfig, LabError, RunningLab, start_lab

__all__ = [
    "ADMIN_SECRET",
    "INVENTORY_MARKER",
    "METADATA_KEY",
    "METADATA_ROLE",
    "LabConfig",
    "LabError",
    "RunningLab",
    "start_lab",
]
