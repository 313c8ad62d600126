"""Authentication for scans: who the scanner is, and how it stays logged in.

- ``session.py``: one cookie jar and CSRF state per identity (used by the ScopedClient).
- ``flows.py``: the login flows (JSON or form login, token from the answer or a cookie, OAuth2
  client credentials, opt-in self-registration).
- ``manager.py``: AuthManager, the CredentialSource the ScopedClient asks for each identity's
  current credentials, and that logs in again (bounded) when they stop working.

Checks never build credential headers: they name an identity (or none) and the client adds what
that identity currently holds.
"""
