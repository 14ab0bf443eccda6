"""RS256/ES256 keys from a real JWKS server on 127.0.0.1: caching, rotation, rate limits, outages.

The container clock of the key cache (`authorizer_jwks.monotonic`) is a fake the
tests move forward, so "a minute later" needs no sleeping; the HTTP traffic is
real and counted at the server.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import authorizer_jwks
import pytest

from tests.authorizer_support import (
    FakeMonotonic,
    JwksServer,
    SigningKey,
    authorize,
    authorizer_event,
    closed_port_url,
    ec_key,
    expected_allow,
    local_tls,
    normalized,
    rsa_key,
    trust_test_ca,
)

ORG_ID = 4242
FRONTEND_KEY = "frontend-usage-key-0123456789abcdefghij"


@pytest.fixture(scope="module")
def rsa_a() -> SigningKey:
    return rsa_key("rsa-a")


@pytest.fixture(scope="module")
def rsa_b() -> SigningKey:
    return rsa_key("rsa-b")


@pytest.fixture(scope="module")
def ec_a() -> SigningKey:
    return ec_key("ec-a")


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[JwksServer]:
    trust_test_ca(monkeypatch)
    jwks = JwksServer()
    yield jwks
    jwks.stop()


@pytest.fixture
def container_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMonotonic]:
    clock = FakeMonotonic()
    monkeypatch.setattr(authorizer_jwks, "monotonic", clock)
    authorizer_jwks.jwks_key_set.cache_clear()  # a fresh container
    yield clock
    authorizer_jwks.jwks_key_set.cache_clear()


@pytest.fixture
def jwks_env(monkeypatch: pytest.MonkeyPatch, server: JwksServer, container_clock: FakeMonotonic) -> None:
    for name in ("JWT_SECRET", "JWT_SECRET_ARN", "JWT_ISSUER", "JWT_AUDIENCE", "JWT_LEEWAY_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JWT_ALGORITHMS", "RS256,ES256")
    monkeypatch.setenv("JWT_JWKS_URL", server.url)
    monkeypatch.setenv("FRONTEND_USAGE_KEY", FRONTEND_KEY)


def token(key: SigningKey, now: datetime, *, kid: str = "same", sub: str = "analyst") -> str:
    at = int(now.timestamp())
    return key.sign({"sub": sub, "exp": at + 600, "iat": at, "org_id": ORG_ID}, kid=kid)


def decide(bearer: str) -> str | dict[str, Any]:
    """ "401", "5xx" or the Allow answer."""
    try:
        return authorize(authorizer_event(f"Bearer {bearer}"))
    except Exception as exc:  # noqa: BLE001 - classified here
        return "401" if str(exc) == "Unauthorized" else "5xx"


def allowed(sub: str = "analyst") -> dict[str, Any]:
    return expected_allow(ORG_ID, f"user:{sub}", "jwt", FRONTEND_KEY)


def check_allowed(outcome: str | dict[str, Any], sub: str = "analyst") -> None:
    assert isinstance(outcome, dict), outcome
    assert normalized(outcome) == allowed(sub)


@pytest.mark.usefixtures("jwks_env")
def test_keys_are_fetched_once_and_reused(
    server: JwksServer, rsa_a: SigningKey, ec_a: SigningKey, now: datetime, container_clock: FakeMonotonic
) -> None:
    server.serve(rsa_a, ec_a)
    for _ in range(5):
        check_allowed(decide(token(rsa_a, now)))
        check_allowed(decide(token(ec_a, now)))
        container_clock.advance(30)
    assert server.requests == 1  # one fetch in 120 s for ten decisions (one client per container)
    assert authorizer_jwks.jwks_key_set(server.url) is authorizer_jwks.jwks_key_set(server.url)


@pytest.mark.usefixtures("jwks_env")
def test_rotation_picks_up_the_new_key_on_its_first_unknown_kid(
    server: JwksServer, rsa_a: SigningKey, rsa_b: SigningKey, now: datetime, container_clock: FakeMonotonic
) -> None:
    server.serve(rsa_a)
    check_allowed(decide(token(rsa_a, now)))
    assert server.requests == 1

    server.serve(rsa_b)  # the identity provider rotates: b replaces a
    container_clock.advance(61)
    check_allowed(decide(token(rsa_b, now, sub="rotated")), sub="rotated")
    assert server.requests == 2

    # a is gone from the new key set; the refresh a minute ago already saw that, so no new fetch.
    container_clock.advance(5)
    assert decide(token(rsa_a, now)) == "401"
    assert server.requests == 2


@pytest.mark.usefixtures("jwks_env")
def test_a_new_kid_within_a_minute_of_the_last_fetch_waits_for_the_next_allowed_refresh(
    server: JwksServer, rsa_a: SigningKey, rsa_b: SigningKey, now: datetime, container_clock: FakeMonotonic
) -> None:
    server.serve(rsa_a)
    check_allowed(decide(token(rsa_a, now)))
    server.serve(rsa_a, rsa_b)
    container_clock.advance(20)
    assert decide(token(rsa_b, now)) == "401"  # rate limited: no fetch
    assert server.requests == 1
    container_clock.advance(41)
    check_allowed(decide(token(rsa_b, now)))
    assert server.requests == 2


@pytest.mark.usefixtures("jwks_env")
def test_a_flood_of_random_kids_costs_at_most_one_fetch_a_minute(
    server: JwksServer, rsa_a: SigningKey, now: datetime, container_clock: FakeMonotonic
) -> None:
    server.serve(rsa_a)
    check_allowed(decide(token(rsa_a, now)))
    for minute in range(3):
        for _ in range(40):
            assert decide(token(rsa_a, now, kid=uuid.uuid4().hex)) == "401"
            container_clock.advance(1.5)  # 40 tokens a minute
        assert server.requests <= 2 + minute
    assert server.requests <= 3
    check_allowed(decide(token(rsa_a, now)))  # the real key still works throughout


@pytest.mark.usefixtures("jwks_env")
def test_jwks_down_at_cold_start_is_a_server_fault_and_recovers(
    server: JwksServer, rsa_a: SigningKey, now: datetime, container_clock: FakeMonotonic
) -> None:
    server.serve(rsa_a)
    server.status = 503
    assert decide(token(rsa_a, now)) == "5xx"
    assert server.requests == 1

    # Within the retry pause no request reaches the JWKS: still a server fault, never a 401.
    container_clock.advance(5)
    assert decide(token(rsa_a, now)) == "5xx"
    assert server.requests == 1

    server.status = 200  # the JWKS is back
    container_clock.advance(6)
    check_allowed(decide(token(rsa_a, now)))
    assert server.requests == 2


def test_jwks_refused_connection_is_a_server_fault(
    monkeypatch: pytest.MonkeyPatch, rsa_a: SigningKey, now: datetime, container_clock: FakeMonotonic
) -> None:
    monkeypatch.setenv("JWT_ALGORITHMS", "RS256")
    monkeypatch.setenv("JWT_JWKS_URL", closed_port_url())
    monkeypatch.setenv("FRONTEND_USAGE_KEY", FRONTEND_KEY)
    assert decide(token(rsa_a, now)) == "5xx"


@pytest.mark.usefixtures("jwks_env")
@pytest.mark.parametrize("body", [b"<html>maintenance</html>", b"[]", b'{"keys": []}', b'{"keys": [{"kty": "nope"}]}'])
def test_a_jwks_without_usable_keys_is_a_server_fault(
    server: JwksServer, rsa_a: SigningKey, now: datetime, body: bytes
) -> None:
    server.body_override = body
    assert decide(token(rsa_a, now)) == "5xx"


@pytest.mark.usefixtures("jwks_env")
def test_a_failed_refresh_keeps_the_last_good_key_set(
    server: JwksServer, rsa_a: SigningKey, now: datetime, container_clock: FakeMonotonic
) -> None:
    server.serve(rsa_a)
    check_allowed(decide(token(rsa_a, now)))
    server.status = 500
    container_clock.advance(authorizer_jwks.MAX_AGE_SECONDS + 1)  # the key set is due for a refresh
    check_allowed(decide(token(rsa_a, now)))  # the refresh failed; the last good copy answered
    assert server.requests == 2
    container_clock.advance(1)
    check_allowed(decide(token(rsa_a, now)))
    assert server.requests == 2  # no retry storm while the JWKS is down
    container_clock.advance(authorizer_jwks.RETRY_AFTER_FAILURE_SECONDS)
    check_allowed(decide(token(rsa_a, now)))
    assert server.requests == 3


@pytest.mark.usefixtures("jwks_env")
def test_an_unknown_kid_while_the_jwks_is_down_is_a_fault_then_rate_limited(
    server: JwksServer, rsa_a: SigningKey, rsa_b: SigningKey, now: datetime, container_clock: FakeMonotonic
) -> None:
    server.serve(rsa_a)
    check_allowed(decide(token(rsa_a, now)))
    server.status = 503
    container_clock.advance(61)
    assert decide(token(rsa_b, now)) == "5xx"  # could not look: not the caller's fault
    assert server.requests == 2
    container_clock.advance(1)
    assert decide(token(rsa_b, now)) == "401"  # no fetch allowed yet: b is simply not a key we know
    assert server.requests == 2
    check_allowed(decide(token(rsa_a, now)))


def test_a_hanging_jwks_times_out(server: JwksServer, rsa_a: SigningKey, container_clock: FakeMonotonic) -> None:
    server.serve(rsa_a)
    server.delay_seconds = 2.0
    key_set = authorizer_jwks.JwksKeySet(server.url, timeout_seconds=0.3)
    with pytest.raises(authorizer_jwks.JwksUnavailable):
        key_set.signing_key(rsa_a.kid)


def test_the_container_client_uses_a_short_timeout(server: JwksServer, container_clock: FakeMonotonic) -> None:
    client = authorizer_jwks.jwks_key_set(server.url)._client
    assert 0 < client.timeout <= 3


@pytest.mark.usefixtures("jwks_env")
def test_a_plain_http_jwks_url_is_a_configuration_error_and_is_never_fetched(
    monkeypatch: pytest.MonkeyPatch, server: JwksServer, rsa_a: SigningKey, now: datetime
) -> None:
    server.serve(rsa_a)
    monkeypatch.setenv("JWT_JWKS_URL", server.url.replace("https://", "http://"))
    assert decide(token(rsa_a, now)) == "5xx"
    assert server.requests == 0


@pytest.mark.usefixtures("jwks_env")
def test_a_jwks_whose_certificate_is_not_trusted_is_a_server_fault(
    monkeypatch: pytest.MonkeyPatch,
    server: JwksServer,
    rsa_a: SigningKey,
    now: datetime,
    container_clock: FakeMonotonic,
) -> None:
    server.serve(rsa_a)
    monkeypatch.delenv("SSL_CERT_FILE")  # the system's CAs: the test CA is not among them
    assert decide(token(rsa_a, now)) == "5xx"
    monkeypatch.setenv("SSL_CERT_FILE", str(local_tls().ca_file))
    container_clock.advance(authorizer_jwks.RETRY_AFTER_FAILURE_SECONDS)
    check_allowed(decide(token(rsa_a, now)))  # the same server, once its CA is trusted
