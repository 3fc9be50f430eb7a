"""Webhook signatures against the published reference vectors, and every way to fail them.

Standard Webhooks: the vector of the reference library's tests (standard-webhooks
``libraries/python/tests/test_webhooks.py``). HubSpot v3: the vector of HubSpot's Python SDK
tests (``tests/spec/utils/test_signature.py``); both are quoted in
/work/shared/reference/crm-api-contracts.md. The URL-decoding rule and basic auth have no
published vector: those expectations are computed independently here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadflow.adapters import (
    AdapterConfigError,
    SignatureError,
    sign_hubspot_v3,
    sign_standard_webhook,
    standard_webhook_headers,
    verify_basic_auth,
    verify_hubspot_v3,
    verify_standard_webhook,
)

SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SW_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SW_TS = 1614265330
SW_BODY = b'{"test": 2432232314}'
SW_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
SW_NOW = datetime.fromtimestamp(SW_TS, UTC)
OTHER_SECRET = "whsec_" + base64.b64encode(b"another-secret-of-32-bytes-long!").decode()

HS_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
HS_URI = "https://www.example.com/webhook_uri"
HS_BODY = "{'example_field':'example_value'}"
HS_TS = 1693657560000
HS_SIGNATURE = "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y="
HS_NOW = datetime.fromtimestamp(HS_TS / 1000, UTC)


def sw_headers(signature: str = SW_SIGNATURE, ts: int = SW_TS) -> dict[str, str]:
    return {"webhook-id": SW_ID, "webhook-timestamp": str(ts), "webhook-signature": signature}


def hs_headers(signature: str = HS_SIGNATURE, ts: int = HS_TS) -> dict[str, str]:
    return {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": str(ts)}


def test_standard_webhooks_reference_vector_signs() -> None:
    """Signing the reference message gives the reference signature."""
    assert sign_standard_webhook(SW_SECRET, SW_ID, SW_TS, SW_BODY) == SW_SIGNATURE


def test_standard_webhooks_reference_vector_verifies() -> None:
    """The reference request verifies and yields its webhook-id; header names are any case."""
    headers = {k.title(): v for k, v in sw_headers().items()}
    assert verify_standard_webhook([SW_SECRET], headers, SW_BODY, SW_NOW) == SW_ID


def test_headers_carry_one_signature_per_secret() -> None:
    """During a rotation both secrets sign; either secret alone verifies."""
    headers = standard_webhook_headers([SW_SECRET, OTHER_SECRET], SW_ID, SW_TS, SW_BODY)
    assert headers["webhook-signature"].split()[0] == SW_SIGNATURE
    assert len(headers["webhook-signature"].split()) == 2
    assert verify_standard_webhook(OTHER_SECRET, headers, SW_BODY, SW_NOW) == SW_ID
    assert verify_standard_webhook([OTHER_SECRET, SW_SECRET], sw_headers(), SW_BODY, SW_NOW)


def test_unknown_signature_versions_are_skipped() -> None:
    """A v1a (ed25519) entry in the list is ignored; the v1 entry still counts."""
    headers = sw_headers(f"v1a,AAAA {SW_SIGNATURE}")
    assert verify_standard_webhook(SW_SECRET, headers, SW_BODY, SW_NOW) == SW_ID


@pytest.mark.parametrize(
    ("headers", "body", "secret", "check"),
    [
        (sw_headers(), b'{"test": 2432232315}', SW_SECRET, "bad-signature"),
        (sw_headers(), SW_BODY, OTHER_SECRET, "bad-signature"),
        (sw_headers("v1,bm90IGl0"), SW_BODY, SW_SECRET, "bad-signature"),
        (sw_headers("v2," + SW_SIGNATURE[3:]), SW_BODY, SW_SECRET, "bad-signature"),
        ({"webhook-id": SW_ID, "webhook-timestamp": str(SW_TS)}, SW_BODY, SW_SECRET,
         "missing-header"),
        (sw_headers(ts=0) | {"webhook-timestamp": "soon"}, SW_BODY, SW_SECRET, "bad-timestamp"),
    ],
)  # fmt: skip
def test_standard_webhooks_failures_name_the_check(
    headers: dict[str, str], body: bytes, secret: str, check: str
) -> None:
    """Tampered bodies, wrong secrets, missing headers and bad timestamps each fail by name."""
    with pytest.raises(SignatureError) as info:
        verify_standard_webhook(secret, headers, body, SW_NOW)
    assert info.value.check == check
    assert SW_SECRET not in str(info.value)
    assert SW_SIGNATURE[3:] not in str(info.value)


@pytest.mark.parametrize(
    ("offset", "check"),
    [(301, "timestamp-too-old"), (-301, "timestamp-in-future"), (299, None), (-299, None)],
)
def test_standard_webhooks_timestamp_tolerance_is_five_minutes(
    offset: int, check: str | None
) -> None:
    """A timestamp more than 5 minutes from now either way is refused; within passes."""
    now = SW_NOW + timedelta(seconds=offset)
    if check is None:
        assert verify_standard_webhook(SW_SECRET, sw_headers(), SW_BODY, now) == SW_ID
        return
    with pytest.raises(SignatureError) as info:
        verify_standard_webhook(SW_SECRET, sw_headers(), SW_BODY, now)
    assert info.value.check == check


@pytest.mark.parametrize("secret", ["whsec_xyz!@#", "whsec_"])
def test_malformed_secrets_are_configuration_errors(secret: str) -> None:
    """A secret that is not whsec_ + base64 is an AdapterConfigError that does not echo it."""
    with pytest.raises(AdapterConfigError) as info:
        sign_standard_webhook(secret, SW_ID, SW_TS, SW_BODY)
    assert secret[6:] == "" or secret[6:] not in str(info.value)


@given(
    body=st.binary(max_size=300),
    msg_id=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=40),
    flip=st.integers(min_value=0, max_value=299),
)
def test_sign_then_verify_round_trips_and_any_change_fails(
    body: bytes, msg_id: str, flip: int
) -> None:
    """Whatever is signed verifies; changing one byte of the body makes it fail."""
    headers = standard_webhook_headers([OTHER_SECRET], msg_id, SW_TS, body)
    assert verify_standard_webhook([OTHER_SECRET], headers, body, SW_NOW) == msg_id
    if body:
        i = flip % len(body)
        tampered = body[:i] + bytes([body[i] ^ 1]) + body[i + 1 :]
        with pytest.raises(SignatureError):
            verify_standard_webhook([OTHER_SECRET], headers, tampered, SW_NOW)


def test_hubspot_reference_vector_signs_and_verifies() -> None:
    """HubSpot's SDK vector signs to its documented value and verifies at its own time."""
    assert sign_hubspot_v3(HS_SECRET, "POST", HS_URI, HS_BODY, HS_TS) == HS_SIGNATURE
    verify_hubspot_v3(HS_SECRET, "POST", HS_URI, HS_BODY, hs_headers(), HS_NOW)


def test_hubspot_uri_is_also_checked_url_decoded() -> None:
    """A signature over the decoded URI passes for the percent-encoded URI received."""
    decoded = "https://www.example.com/webhook_uri?portal=1&when=12:00&who=a@b"
    received = "https://www.example.com/webhook_uri?portal=1&when=12%3A00&who=a%40b"
    signature = sign_hubspot_v3(HS_SECRET, "POST", decoded, HS_BODY, HS_TS)
    verify_hubspot_v3(HS_SECRET, "POST", received, HS_BODY, hs_headers(signature), HS_NOW)
    # computed independently of the helper: base64(HMAC-SHA256(secret, method+uri+body+ts))
    source = f"POST{decoded}{HS_BODY}{HS_TS}".encode()
    expected = base64.b64encode(hmac.new(HS_SECRET.encode(), source, hashlib.sha256).digest())
    assert signature == expected.decode()


@pytest.mark.parametrize(
    ("change", "check"),
    [
        ({"body": HS_BODY + " "}, "bad-signature"),
        ({"method": "GET"}, "bad-signature"),
        ({"uri": HS_URI + "/other"}, "bad-signature"),
        ({"secret": "zzzz"}, "bad-signature"),
        ({"now": HS_NOW + timedelta(milliseconds=300_001)}, "timestamp-too-old"),
        ({"now": HS_NOW - timedelta(minutes=6)}, "timestamp-in-future"),
        ({"headers": {"X-HubSpot-Request-Timestamp": str(HS_TS)}}, "missing-header"),
        ({"headers": hs_headers() | {"X-HubSpot-Request-Timestamp": "x"}}, "bad-timestamp"),
    ],
)
def test_hubspot_failures_name_the_check(change: dict[str, object], check: str) -> None:
    """Each changed part of the signed request, or a stale timestamp, fails by name."""
    args: dict[str, object] = {
        "secret": HS_SECRET,
        "method": "POST",
        "uri": HS_URI,
        "body": HS_BODY,
        "headers": hs_headers(),
        "now": HS_NOW,
    } | change
    with pytest.raises(SignatureError) as info:
        verify_hubspot_v3(
            args["secret"],  # type: ignore[arg-type]
            args["method"],  # type: ignore[arg-type]
            args["uri"],  # type: ignore[arg-type]
            args["body"],  # type: ignore[arg-type]
            args["headers"],  # type: ignore[arg-type]
            args["now"],  # type: ignore[arg-type]
        )
    assert info.value.check == check
    assert HS_SECRET not in str(info.value)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_basic_auth_accepts_the_configured_credentials() -> None:
    """The configured user and password pass."""
    verify_basic_auth(basic("pipedrive", "p4ss:word"), "pipedrive", "p4ss:word")


@pytest.mark.parametrize(
    ("header", "check"),
    [
        (None, "missing-header"),
        ("", "missing-header"),
        (basic("pipedrive", "wrong"), "bad-credentials"),
        (basic("other", "p4ss"), "bad-credentials"),
        ("Bearer " + base64.b64encode(b"pipedrive:p4ss").decode(), "bad-credentials"),
        ("Basic !!!notbase64", "bad-credentials"),
        ("Basic " + base64.b64encode(b"nocolon").decode(), "bad-credentials"),
    ],
)
def test_basic_auth_failures(header: str | None, check: str) -> None:
    """Missing, wrong, non-Basic or malformed credentials fail by name without echoing them."""
    with pytest.raises(SignatureError) as info:
        verify_basic_auth(header, "pipedrive", "p4ss")
    assert info.value.check == check
    assert "p4ss" not in str(info.value)
