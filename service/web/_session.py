"""Web sessions: a signed cookie naming the token a person signed in with, and CSRF tokens.

The cookie (``leadflow_session``: HttpOnly, SameSite=Lax, Secure over HTTPS, 8 hours) holds
``<payload>.<signature>``: the payload is the token's id and name, a random session id and
the expiry; the signature an HMAC-SHA256 of it with the app's session key. It never holds the
token itself. Each request checks the signature, the expiry, and that the token is still live
(through :class:`~leadflow.service._token_cache.TokenCache`, so a revoked token ends its
sessions within the cache's TTL); the role, team and owner come from the token's row, so they
are always current. Sign-out clears the cookie.

Every form that changes something carries ``csrf``: an HMAC of the session id under the same
key, which a page of another site cannot read or compute. The sign-in form has no session yet;
it is protected by SameSite and an ``Origin`` check instead.

Replicas and uvicorn workers must share the key (``LEADFLOW_SESSION_KEY``; ``leadflow serve``
makes one for its workers when it is unset), or a session signed by one is refused by another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from leadflow.engine.store import TokenInfo

__all__ = ["COOKIE", "MAX_AGE", "Session", "SessionSigner"]

COOKIE = "leadflow_session"
MAX_AGE = 8 * 3600
"""Seconds a session lasts."""


@dataclass(frozen=True, slots=True)
class Session:
    """What a valid session cookie says."""

    token_id: int
    token_name: str
    sid: str
    expires: int
    """Epoch seconds."""


class SessionSigner:
    """Signs and checks session cookies and CSRF tokens with one key."""

    def __init__(self, key: bytes, max_age: int = MAX_AGE) -> None:
        if len(key) < 16:
            raise ValueError("a session key needs at least 16 bytes")
        self._key = key
        self.max_age = max_age

    def issue(self, info: TokenInfo, now: float) -> tuple[str, Session]:
        """A new session for ``info``'s token: (cookie value, session)."""
        session = Session(info.id, info.name, secrets.token_urlsafe(16), int(now) + self.max_age)
        payload = json.dumps(
            [session.token_id, session.token_name, session.sid, session.expires],
            separators=(",", ":"),
        ).encode()
        text = base64.urlsafe_b64encode(payload).decode().rstrip("=")
        return f"{text}.{self._sign('session', text)}", session

    def read(self, value: str, now: float) -> Session | None:
        """The session of a cookie value, or None if it is forged, malformed or expired."""
        text, _, signature = value.partition(".")
        if not signature or not hmac.compare_digest(signature, self._sign("session", text)):
            return None
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            token_id, name, sid, expires = json.loads(raw)
        except (ValueError, TypeError):
            return None
        if not isinstance(expires, int) or expires <= now:
            return None
        return Session(int(token_id), str(name), str(sid), expires)

    def csrf(self, session: Session) -> str:
        """The CSRF token of the session's forms."""
        return self._sign("csrf", session.sid)

    def csrf_ok(self, session: Session, given: str | None) -> bool:
        """Whether ``given`` is the session's CSRF token."""
        return given is not None and hmac.compare_digest(given, self.csrf(session))

    def _sign(self, purpose: str, text: str) -> str:
        mac = hmac.new(self._key, f"{purpose}:{text}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")
