"""Fix texts kept as YAML data files beside this module (``data/*.yaml``), merged into the
Flask texts of :mod:`firebrick.remediation.flask` by kind."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

from firebrick.remediation.flask import KINDS, Fix

DATA_FILES = ("reach.yaml",)


@cache
def load(name: str) -> dict[str, Any]:
    text = (resources.files("firebrick.remediation") / "data" / name).read_text("utf-8")
    data = yaml.safe_load(text)
    return data if isinstance(data, dict) else {}


def merge() -> None:
    for name in DATA_FILES:
        entries = load(name)
        for kind, entry in entries.items():
            if "same_as" in entry:
                continue
            KINDS.setdefault(kind, Fix(entry["title"], entry["why"].strip(), entry["fix"]))
        for kind, entry in entries.items():
            if "same_as" in entry and entry["same_as"] in KINDS:
                KINDS.setdefault(kind, KINDS[entry["same_as"]])


merge()
