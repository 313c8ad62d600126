"""The out-of-band server: HTTP, HTTPS and DNS listeners that record what a target sends."""

from firebrick.oob.server import OOBConfig, OOBServer, serve_forever
from firebrick.oob.tokens import TOKEN_RE, new_token

__all__ = ["TOKEN_RE", "OOBConfig", "OOBServer", "new_token", "serve_forever"]
