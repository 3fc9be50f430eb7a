"""Webhook signatures: Standard Webhooks (sign and verify), HubSpot v3 and Pipedrive basic auth.

Every verifier raises :class:`SignatureError` whose ``check`` says which check failed
(``missing-header``, ``bad-timestamp``, ``timestamp-too-old``, ``timestamp-in-future``,
``bad-signature``, ``bad-credentials``); messages never contain a secret or a signature.
Comparisons are constant-time; ``now`` is always passed in (the engine's clock).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from leadflow.adapters.base import AdapterConfigError
from leadflow.definitions import LeadflowError

__all__ = [
    "SIGNATURE_TOLERANCE",
    "SignatureError",
    "hubspot_uri_candidates",
    "sign_hubspot_v3",
    "sign_standard_webhook",
    "standard_webhook_headers",
    "verify_basic_auth",
    "verify_hubspot_v3",
    "verify_standard_webhook",
]

SIGNATURE_TOLERANCE = timedelta(minutes=5)
"""How far a signed timestamp may be from now, either way (both schemes use 5 minutes)."""

_WHSEC = "whsec_"
# HubSpot's request-validation page: decode these in the URI before hashing (v3).
_HUBSPOT_DECODE = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}


class SignatureError(LeadflowError, ValueError):
    """A request failed verification; ``check`` names the failed check (stable, for bodies)."""

    code = "signature-invalid"

    def __init__(self, check: str, message: str) -> None:
        self.check = check
        super().__init__(message)


def _key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret (``whsec_`` + base64)."""
    text = secret[len(_WHSEC) :] if secret.startswith(_WHSEC) else secret
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise AdapterConfigError(
            "a Standard Webhooks secret is 'whsec_' followed by base64 of 24-64 random bytes "
            "(this one is not base64)"
        ) from None
    if not key:
        raise AdapterConfigError("a Standard Webhooks secret must not be empty")
    return key


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode() if isinstance(body, str) else body


def sign_standard_webhook(secret: str, msg_id: str, timestamp: int, body: bytes | str) -> str:
    """``v1,<base64 HMAC-SHA256>`` of ``{msg_id}.{timestamp}.{body}`` under ``secret``."""
    signed = f"{msg_id}.{timestamp}.".encode() + _as_bytes(body)
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def standard_webhook_headers(
    secrets: Iterable[str], msg_id: str, timestamp: int, body: bytes | str
) -> dict[str, str]:
    """The ``webhook-id``/``-timestamp``/``-signature`` headers, one signature per secret
    (current first, then the previous one during a rotation)."""
    signatures = [sign_standard_webhook(s, msg_id, timestamp, body) for s in secrets]
    if not signatures:
        raise AdapterConfigError("at least one signing secret is needed")
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signatures),
    }


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _check_time(seconds: float, now: datetime, tolerance: timedelta) -> None:
    delta = now.timestamp() - seconds
    if delta > tolerance.total_seconds():
        raise SignatureError(
            "timestamp-too-old",
            f"the signed timestamp is {delta:.0f} s old; at most {tolerance.total_seconds():.0f}"
            " s is accepted (a replay, or a clock out of sync)",
        )
    if -delta > tolerance.total_seconds():
        raise SignatureError(
            "timestamp-in-future",
            f"the signed timestamp is {-delta:.0f} s in the future; at most "
            f"{tolerance.total_seconds():.0f} s of clock skew is accepted",
        )


def _required(headers: Mapping[str, str], names: Iterable[str]) -> list[str]:
    values = []
    for name in names:
        value = headers.get(name.lower())
        if not value:
            raise SignatureError("missing-header", f"the {name} header is missing")
        values.append(value)
    return values


def verify_standard_webhook(
    secrets: Iterable[str] | str,
    headers: Mapping[str, str],
    body: bytes | str,
    now: datetime,
    tolerance: timedelta = SIGNATURE_TOLERANCE,
) -> str:
    """Verify a Standard Webhooks request; returns its ``webhook-id``.

    ``secrets`` may be several (rotation): any ``v1`` signature of the space-separated
    ``webhook-signature`` list made with any secret passes. Raises :class:`SignatureError`.
    """
    lowered = _lower(headers)
    msg_id, stamp, signatures = _required(
        lowered, ("webhook-id", "webhook-timestamp", "webhook-signature")
    )
    try:
        timestamp = int(stamp)
    except ValueError:
        raise SignatureError(
            "bad-timestamp", "webhook-timestamp must be whole seconds since the epoch"
        ) from None
    _check_time(timestamp, now, tolerance)
    offered = [s.split(",", 1)[1] for s in signatures.split() if s.startswith("v1,")]
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    for secret in keys:
        expected = sign_standard_webhook(secret, msg_id, timestamp, body)[3:]
        if any(hmac.compare_digest(expected.encode(), o.encode()) for o in offered):
            return msg_id
    raise SignatureError(
        "bad-signature", "no v1 signature in webhook-signature matches a configured secret"
    )


def hubspot_uri_candidates(uri: str) -> list[str]:
    """The URI as received and with the characters HubSpot's validation page decodes."""
    decoded = uri
    for encoded, char in _HUBSPOT_DECODE.items():
        decoded = decoded.replace(encoded, char).replace(encoded.lower(), char)
    return [uri] if decoded == uri else [uri, decoded]


def sign_hubspot_v3(
    client_secret: str, method: str, uri: str, body: bytes | str, timestamp_ms: int
) -> str:
    """base64 HMAC-SHA256 of ``method + uri + body + timestamp`` under the app's client secret."""
    source = f"{method}{uri}".encode() + _as_bytes(body) + str(timestamp_ms).encode()
    digest = hmac.new(client_secret.encode(), source, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_hubspot_v3(
    client_secret: str,
    method: str,
    uri: str,
    body: bytes | str,
    headers: Mapping[str, str],
    now: datetime,
    tolerance: timedelta = SIGNATURE_TOLERANCE,
) -> None:
    """Verify ``X-HubSpot-Signature-v3`` of a request to the full ``uri`` (scheme, host, path,
    query). Raises :class:`SignatureError`."""
    lowered = _lower(headers)
    signature, stamp = _required(lowered, ("X-HubSpot-Signature-v3", "X-HubSpot-Request-Timestamp"))
    try:
        timestamp_ms = int(stamp)
    except ValueError:
        raise SignatureError(
            "bad-timestamp", "X-HubSpot-Request-Timestamp must be milliseconds since the epoch"
        ) from None
    _check_time(timestamp_ms / 1000, now, tolerance)
    for candidate in hubspot_uri_candidates(uri):
        expected = sign_hubspot_v3(client_secret, method.upper(), candidate, body, timestamp_ms)
        if hmac.compare_digest(expected.encode(), signature.encode()):
            return
    raise SignatureError(
        "bad-signature",
        "X-HubSpot-Signature-v3 does not match (method + URI + body + timestamp under the app's "
        "client secret; check the public URL HubSpot calls)",
    )


def verify_basic_auth(authorization: str | None, username: str, password: str) -> None:
    """Check an ``Authorization: Basic`` header (Pipedrive webhooks). Raises
    :class:`SignatureError` (``missing-header`` or ``bad-credentials``)."""
    if not authorization:
        raise SignatureError("missing-header", "the Authorization header (Basic) is missing")
    scheme, _, token = authorization.partition(" ")
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    user, sep, given = decoded.partition(b":")
    ok_user = hmac.compare_digest(user, username.encode())
    ok_password = hmac.compare_digest(given, password.encode())
    if scheme.lower() != "basic" or not sep or not (ok_user and ok_password):
        raise SignatureError("bad-credentials", "the Basic credentials do not match")
