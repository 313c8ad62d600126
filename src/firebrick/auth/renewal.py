"""When a 401 means "log in again" and when it means "this operation refuses this identity".

A 401 after a fresh login used to be read as a real refusal, and that operation never triggered
a login again. That is wrong whenever the fresh credentials were spent by someone else first:
the requests waiting on one re-login all resend with the same new token, and a token that
allows a number of uses, a session the server ends, a short expiry, can die before the last of
them arrives (more of them pile up when the target or the scanner is slow). The laggards' 401s
then said "refused" for operations the identity can read: a verdict that depended on load.

So the client keeps evidence, per identity:
- which operations have let it in (answered anything but 401);
- which generations of its credentials died: refused by an operation that had let it in;
- which operation refused which generation of fresh credentials.

A 401 with credentials of a generation that died is renewed (log in again, bounded by the
manager's ``max_relogins``); fresh credentials refused by an operation while nothing shows they
died are a real refusal, and stay one unless that generation later turns out to have died.
"""

from __future__ import annotations

MAX_RENEWALS = 3  # log-ins (or resends with someone else's newer credentials) for one request


class RenewalEvidence:
    def __init__(self) -> None:
        self._accepted: set[tuple[str, str]] = set()  # (identity, operation) let in
        self._dead: set[tuple[str, int]] = set()  # (identity, generation) that stopped working
        self._refusals: dict[tuple[str, str], int] = {}  # (identity, operation) -> generation

    def record(self, who: str, op: str, generation: int, status: int | None) -> None:
        """One answer to ``who`` sent with credentials of ``generation``."""
        if status is None:
            return
        if status != 401:
            self._accepted.add((who, op))
        elif (who, op) in self._accepted:
            # an operation that let this identity in now refuses it: the credentials died
            self._dead.add((who, generation))

    def died(self, who: str, generation: int) -> bool:
        return (who, generation) in self._dead

    def refuses(self, who: str, op: str) -> bool:
        """This operation refused fresh credentials that are not known to have died."""
        generation = self._refusals.get((who, op))
        return generation is not None and not self.died(who, generation)

    def worth_renewing(
        self, who: str, op: str, generation: int, current: int, renewed: bool
    ) -> bool:
        """A 401 answered credentials of ``generation`` (``current`` is the identity's newest;
        ``renewed``: this request already logged in again or resent with newer credentials)."""
        if current != generation or self.died(who, generation):
            return True  # someone logged in since, or these credentials stopped working
        return not renewed and not self.refuses(who, op)

    def refused(self, who: str, op: str, generation: int) -> None:
        """Fresh credentials (``generation``) were refused by ``op`` with no sign they died."""
        if not self.died(who, generation):
            self._refusals[(who, op)] = generation
