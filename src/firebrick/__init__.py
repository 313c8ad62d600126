"""firebrick: a black-box API security scanner with out-of-band SSRF and DNS depth."""

__version__ = "0.1.0"
