"""The REQUEST authorizer, credential by credential: 401, Allow (whole answer), or a server fault.

Every row of CASES is one credential with its exact expected outcome:
- UNAUTHORIZED: the handler raises Exception("Unauthorized") (API Gateway answers 401);
- ALLOW: the whole answer equals the policy, context and usage key written out here;
- SERVER_FAULT: any other exception (API Gateway answers 500).
JWTs are signed with real keys (HS256 secret; RSA and EC keys published by a real
JWKS server on 127.0.0.1); API keys are rows in the real Postgres. No captured
log line of any case holds the token, the key, its secret part or a configured secret.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import authorizer_jwks
import jwt
import pytest

from analytics_common.api_keys import api_key_hash, generate_api_key
from analytics_common.postgres import postgres_client
from tests.authorizer_support import (
    JwksServer,
    SigningKey,
    authorize,
    authorizer_event,
    captured_log_lines,
    closed_port_url,
    ec_key,
    expected_allow,
    normalized,
    rsa_key,
    trust_test_ca,
)
from tests.conftest import Stores

# Tokens signed with the deliberately weak test key warn when they are made; the authorizer rejects them.
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

HS_SECRET = "test-hs256-secret-0123456789abcdef-not-for-production"
SHORT_SECRET = "short-secret-16b"
FRONTEND_KEY = "frontend-usage-key-0123456789abcdefghij"
ISSUER = "https://id.example.test/"
AUDIENCE = "platform-analytics"

ALLOW = "allow"
UNAUTHORIZED = "401"
SERVER_FAULT = "5xx"

JWKS = "<jwks>"  # placeholder in a case's env: the URL of the test JWKS server
CLOSED = "<closed>"  # placeholder: a URL where nothing listens
JWKS_HTTP = "<jwks-http>"  # placeholder: the test JWKS server's URL with http:// instead of https://
HS_NEXT_SECRET = "test-hs256-next-secret-fedcba9876543210-rotation"
ROTATION_ENV = {"JWT_SECRET": json.dumps({"2026-05": HS_SECRET, "2026-06": HS_NEXT_SECRET})}
JWKS_ENV = {"JWT_ALGORITHMS": "RS256,ES256", "JWT_JWKS_URL": JWKS}


@dataclass
class Credential:
    """One Authorization header value, what a valid one proves, and what must never be logged."""

    header: str | None
    sensitive: list[str] = field(default_factory=list)
    org_id: int = 0
    principal_id: str = ""
    auth_type: str = ""
    usage_key: str = FRONTEND_KEY
    header_name: str = "Authorization"


@dataclass
class Keys:
    rsa: SigningKey
    ec: SigningKey
    rsa_weak: SigningKey
    rsa_foreign: SigningKey  # same kid as `rsa`, not published


@pytest.fixture(scope="module")
def keys() -> Keys:
    rsa = rsa_key("rsa-1")
    return Keys(rsa=rsa, ec=ec_key("ec-1"), rsa_weak=rsa_key("rsa-weak", bits=1024), rsa_foreign=rsa_key("rsa-1"))


@pytest.fixture(scope="module")
def jwks_server(keys: Keys) -> Iterator[JwksServer]:
    server = JwksServer()
    server.serve(keys.rsa, keys.ec, keys.rsa_weak)
    yield server
    server.stop()


@pytest.fixture
def auth_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The authorizer's configuration every case starts from: HS256 with a good secret, a frontend key."""
    for name in (
        "JWT_ALGORITHMS",
        "JWT_SECRET_ARN",
        "JWT_JWKS_URL",
        "JWT_ISSUER",
        "JWT_AUDIENCE",
        "JWT_LEEWAY_SECONDS",
        "FRONTEND_USAGE_KEY_SECRET_ARN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JWT_SECRET", HS_SECRET)
    monkeypatch.setenv("FRONTEND_USAGE_KEY", FRONTEND_KEY)
    trust_test_ca(monkeypatch)
    authorizer_jwks.jwks_key_set.cache_clear()
    yield
    authorizer_jwks.jwks_key_set.cache_clear()


@dataclass
class Maker:
    """Builds the credentials of the table for one test: tokens relative to `now`, keys in Postgres."""

    db: Stores
    ids: Iterator[int]
    now: datetime
    keys: Keys
    org_id: int = 0

    def __post_init__(self) -> None:
        self.org_id = next(self.ids)
        self.db.insert_pg("organizations", ["id", "name"], [[self.org_id, f"org {self.org_id}"]])

    def claims(self, **overrides: Any) -> dict[str, Any]:
        at = int(self.now.timestamp())
        claims: dict[str, Any] = {"sub": f"user-{self.org_id}", "exp": at + 600, "iat": at, "org_id": self.org_id}
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not DROP}

    def at(self, seconds: int) -> int:
        return int(self.now.timestamp()) + seconds

    def jwt_credential(self, token: str, claims: dict[str, Any], scheme: str = "Bearer") -> Credential:
        return Credential(
            header=f"{scheme} {token}",
            sensitive=[token, token.rsplit(".", 1)[-1]],
            org_id=self.org_id,
            principal_id=f"user:{claims.get('sub')}",
            auth_type="jwt",
        )

    def hs(
        self,
        claims: dict[str, Any] | None = None,
        *,
        secret: str = HS_SECRET,
        scheme: str = "Bearer",
        kid: str | None = None,
    ) -> Credential:
        body = claims or self.claims()
        headers = {"kid": kid} if kid is not None else None
        return self.jwt_credential(jwt.encode(body, secret, algorithm="HS256", headers=headers), body, scheme)

    def hs_next(self, kid: str) -> Credential:
        """A token signed with the next HS256 secret, under `kid`."""
        return self.hs(secret=HS_NEXT_SECRET, kid=kid)

    def signed(self, key: SigningKey, claims: dict[str, Any] | None = None, **sign_kwargs: Any) -> Credential:
        body = claims or self.claims()
        return self.jwt_credential(key.sign(body, **sign_kwargs), body)

    def api_key(
        self,
        *,
        revoked: bool = False,
        expires_in: timedelta | None = None,
        store: bool = True,
        scheme: str = "Bearer",
        usage_key: str | None = None,
    ) -> Credential:
        key = generate_api_key()
        key_id = next(self.ids)
        if store:
            self.db.insert_pg(
                "api_keys",
                ["id", "org_id", "name", "prefix", "key_hash", "expires_at", "revoked_at", "usage_key"],
                [
                    [
                        key_id,
                        self.org_id,
                        "test key",
                        key.split("_")[1],
                        api_key_hash(key),
                        None if expires_in is None else self.now + expires_in,
                        self.now - timedelta(hours=1) if revoked else None,
                        usage_key,
                    ]
                ],
            )
        return Credential(
            header=f"{scheme} {key}",
            sensitive=[key, key.split("_", 2)[2]],
            org_id=self.org_id,
            principal_id=f"api_key:{key_id}",
            auth_type="api_key",
            usage_key=usage_key or key,  # a legacy row (no usage_key) is metered by the key string
        )

    def header(self, value: str | None) -> Credential:
        return Credential(header=value)


DROP = object()  # a claim value meaning "leave this claim out"


def tampered(credential: Credential, **changes: Any) -> Credential:
    """The same token with its payload changed and the original signature kept."""
    assert credential.header is not None
    scheme, token = credential.header.split(" ", 1)
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    token = f"{header}.{forged}.{signature}"
    return Credential(header=f"{scheme} {token}", sensitive=[token, signature])


def unsigned(claims: dict[str, Any], alg: str = "none") -> str:
    def segment(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{segment({'alg': alg, 'typ': 'JWT'})}.{segment(claims)}."


@dataclass(frozen=True)
class Case:
    label: str
    make: Callable[[Maker], Credential]
    outcome: str
    env: Mapping[str, str | None] = field(default_factory=dict)


def _rsa_pem_as_hmac_secret(m: Maker) -> Credential:
    # Key confusion: an HS256 token whose "secret" is the RSA public key everybody can fetch.
    import hashlib
    import hmac

    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")
    payload = base64.urlsafe_b64encode(json.dumps(m.claims()).encode()).rstrip(b"=")
    signature = hmac.new(m.keys.rsa.public_pem(), header + b"." + payload, hashlib.sha256).digest()
    token = f"{header.decode()}.{payload.decode()}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
    return Credential(header=f"Bearer {token}", sensitive=[token])


CASES = [
    # ---- HS256 JWTs: valid ----
    Case("hs256 valid", lambda m: m.hs(), ALLOW),
    Case("hs256 org_id as digit string", lambda m: m.hs(m.claims(org_id=str(m.org_id))), ALLOW),
    Case("hs256 org_id with leading zeros", lambda m: m.hs(m.claims(org_id=f"000{m.org_id}")), ALLOW),
    Case("hs256 lowercase header name", lambda m: _renamed(m.hs(), "authorization"), ALLOW),
    Case("hs256 scheme in lowercase", lambda m: m.hs(scheme="bearer"), ALLOW),
    Case("hs256 scheme in uppercase", lambda m: m.hs(scheme="BEARER"), ALLOW),
    Case("hs256 expired 10 s ago (inside the 30 s leeway)", lambda m: m.hs(m.claims(exp=m.at(-10))), ALLOW),
    Case("hs256 nbf 10 s ahead (inside the leeway)", lambda m: m.hs(m.claims(nbf=m.at(10))), ALLOW),
    Case("hs256 nbf in the past", lambda m: m.hs(m.claims(nbf=m.at(-60))), ALLOW),
    Case(
        "hs256 leeway configured 600 s is capped at 60: expired 50 s ago",
        lambda m: m.hs(m.claims(exp=m.at(-50))),
        ALLOW,
        {"JWT_LEEWAY_SECONDS": "600"},
    ),
    Case(
        "hs256 with iss and aud configured and matching",
        lambda m: m.hs(m.claims(iss=ISSUER, aud=AUDIENCE)),
        ALLOW,
        {"JWT_ISSUER": ISSUER, "JWT_AUDIENCE": AUDIENCE},
    ),
    Case(
        "hs256 aud list holding the configured audience",
        lambda m: m.hs(m.claims(iss=ISSUER, aud=["other", AUDIENCE])),
        ALLOW,
        {"JWT_ISSUER": ISSUER, "JWT_AUDIENCE": AUDIENCE},
    ),
    Case("hs256 with an aud claim and no audience configured", lambda m: m.hs(m.claims(aud="anyone")), ALLOW),
    Case(
        "hs256 among several configured algorithms",
        lambda m: m.hs(),
        ALLOW,
        {"JWT_ALGORITHMS": "RS256, HS256", "JWT_JWKS_URL": JWKS},
    ),
    Case("hs256 one secret: a kid is ignored", lambda m: m.hs(kid="anything"), ALLOW),
    Case("hs256 rotation: the current secret's kid", lambda m: m.hs(kid="2026-05"), ALLOW, ROTATION_ENV),
    Case("hs256 rotation: the next secret's kid", lambda m: m.hs_next("2026-06"), ALLOW, ROTATION_ENV),
    # ---- HS256 JWTs: rejected ----
    Case("hs256 rotation: no kid", lambda m: m.hs(), UNAUTHORIZED, ROTATION_ENV),
    Case("hs256 rotation: a kid not configured", lambda m: m.hs(kid="2026-04"), UNAUTHORIZED, ROTATION_ENV),
    Case(
        "hs256 rotation: the next secret, the current kid", lambda m: m.hs_next("2026-05"), UNAUTHORIZED, ROTATION_ENV
    ),
    Case(
        "hs256 the next secret while only the current one is configured",
        lambda m: m.hs(secret=HS_NEXT_SECRET),
        UNAUTHORIZED,
    ),
    Case("hs256 expired 31 s ago", lambda m: m.hs(m.claims(exp=m.at(-31))), UNAUTHORIZED),
    Case("hs256 expired a day ago", lambda m: m.hs(m.claims(exp=m.at(-86400))), UNAUTHORIZED),
    Case(
        "hs256 leeway capped at 60: expired 90 s ago",
        lambda m: m.hs(m.claims(exp=m.at(-90))),
        UNAUTHORIZED,
        {"JWT_LEEWAY_SECONDS": "600"},
    ),
    Case("hs256 nbf 120 s ahead", lambda m: m.hs(m.claims(nbf=m.at(120))), UNAUTHORIZED),
    Case("hs256 iat 120 s ahead", lambda m: m.hs(m.claims(iat=m.at(120))), UNAUTHORIZED),
    Case("hs256 exp as a string", lambda m: m.hs(m.claims(exp=str(m.at(600)))), UNAUTHORIZED),
    Case("hs256 without exp", lambda m: m.hs(m.claims(exp=DROP)), UNAUTHORIZED),
    Case("hs256 without sub", lambda m: m.hs(m.claims(sub=DROP)), UNAUTHORIZED),
    Case("hs256 sub empty", lambda m: m.hs(m.claims(sub="")), UNAUTHORIZED),
    Case("hs256 sub a number", lambda m: m.hs(m.claims(sub=42)), UNAUTHORIZED),
    Case("hs256 without org_id", lambda m: m.hs(m.claims(org_id=DROP)), UNAUTHORIZED),
    Case("hs256 org_id null", lambda m: m.hs(m.claims(org_id=None)), UNAUTHORIZED),
    Case("hs256 org_id 0", lambda m: m.hs(m.claims(org_id=0)), UNAUTHORIZED),
    Case("hs256 org_id negative", lambda m: m.hs(m.claims(org_id=-5)), UNAUTHORIZED),
    Case("hs256 org_id true", lambda m: m.hs(m.claims(org_id=True)), UNAUTHORIZED),
    Case("hs256 org_id float 7.0", lambda m: m.hs(m.claims(org_id=7.0)), UNAUTHORIZED),
    Case("hs256 org_id float 1.5", lambda m: m.hs(m.claims(org_id=1.5)), UNAUTHORIZED),
    Case("hs256 org_id list", lambda m: m.hs(m.claims(org_id=[m.org_id])), UNAUTHORIZED),
    Case("hs256 org_id object", lambda m: m.hs(m.claims(org_id={"id": m.org_id})), UNAUTHORIZED),
    Case("hs256 org_id letters", lambda m: m.hs(m.claims(org_id="abc")), UNAUTHORIZED),
    Case("hs256 org_id empty string", lambda m: m.hs(m.claims(org_id="")), UNAUTHORIZED),
    Case("hs256 org_id signed string", lambda m: m.hs(m.claims(org_id=f"+{m.org_id}")), UNAUTHORIZED),
    Case("hs256 org_id padded string", lambda m: m.hs(m.claims(org_id=f" {m.org_id}")), UNAUTHORIZED),
    Case("hs256 org_id non-ascii digits", lambda m: m.hs(m.claims(org_id="\u0663\u0664")), UNAUTHORIZED),
    Case("hs256 org_id above bigint", lambda m: m.hs(m.claims(org_id=2**63)), UNAUTHORIZED),
    Case("hs256 org_id huge digit string", lambda m: m.hs(m.claims(org_id="9" * 30)), UNAUTHORIZED),
    Case(
        "hs256 wrong issuer",
        lambda m: m.hs(m.claims(iss="https://evil.test/", aud=AUDIENCE)),
        UNAUTHORIZED,
        {"JWT_ISSUER": ISSUER, "JWT_AUDIENCE": AUDIENCE},
    ),
    Case(
        "hs256 without iss when an issuer is configured",
        lambda m: m.hs(m.claims(aud=AUDIENCE)),
        UNAUTHORIZED,
        {"JWT_ISSUER": ISSUER, "JWT_AUDIENCE": AUDIENCE},
    ),
    Case(
        "hs256 wrong audience",
        lambda m: m.hs(m.claims(iss=ISSUER, aud="someone-else")),
        UNAUTHORIZED,
        {"JWT_ISSUER": ISSUER, "JWT_AUDIENCE": AUDIENCE},
    ),
    Case(
        "hs256 without aud when an audience is configured",
        lambda m: m.hs(m.claims(iss=ISSUER)),
        UNAUTHORIZED,
        {"JWT_ISSUER": ISSUER, "JWT_AUDIENCE": AUDIENCE},
    ),
    Case(
        "hs256 signed with a foreign secret", lambda m: m.hs(secret="another-secret-0123456789abcdef-xyz"), UNAUTHORIZED
    ),
    Case("hs256 payload tampered (org_id changed)", lambda m: tampered(m.hs(), org_id=1), UNAUTHORIZED),
    Case("hs256 payload tampered (exp extended)", lambda m: tampered(m.hs(), exp=m.at(10**6)), UNAUTHORIZED),
    Case("alg none", lambda m: m.header(f"Bearer {unsigned(m.claims())}"), UNAUTHORIZED),
    Case("alg None spelled differently", lambda m: m.header(f"Bearer {unsigned(m.claims(), 'None')}"), UNAUTHORIZED),
    Case("alg none with a signature", lambda m: m.header(f"Bearer {unsigned(m.claims())}c2ln"), UNAUTHORIZED),
    Case(
        "hs512 (not configured) with the right secret",
        lambda m: m.header("Bearer " + jwt.encode(m.claims(), HS_SECRET, algorithm="HS512")),
        UNAUTHORIZED,
    ),
    Case("rs256 token when only hs256 is configured", lambda m: m.signed(m.keys.rsa), UNAUTHORIZED),
    Case(
        "key confusion: hs256 signed with the rsa public key",
        _rsa_pem_as_hmac_secret,
        UNAUTHORIZED,
        {"JWT_ALGORITHMS": "HS256,RS256", "JWT_JWKS_URL": JWKS},
    ),
    Case(
        "key confusion: hs256 signed with the rsa public key, only rs256 configured",
        _rsa_pem_as_hmac_secret,
        UNAUTHORIZED,
        JWKS_ENV,
    ),
    # ---- garbage, missing token, other schemes ----
    Case("garbage word", lambda m: m.header("Bearer not-a-token"), UNAUTHORIZED),
    Case("garbage three segments", lambda m: m.header("Bearer aaa.bbb.ccc"), UNAUTHORIZED),
    Case("garbage non-ascii", lambda m: m.header("Bearer t\u00f6ken"), UNAUTHORIZED),
    Case("garbage huge token", lambda m: m.header("Bearer " + "a" * 9000), UNAUTHORIZED),
    Case("no authorization header", lambda m: m.header(None), UNAUTHORIZED),
    Case("empty authorization header", lambda m: m.header(""), UNAUTHORIZED),
    Case("bearer without a token", lambda m: m.header("Bearer"), UNAUTHORIZED),
    Case("bearer with blanks only", lambda m: m.header("Bearer    "), UNAUTHORIZED),
    Case("basic scheme", lambda m: m.header("Basic dXNlcjpwYXNzd29yZA=="), UNAUTHORIZED),
    Case("valid jwt under scheme Token", lambda m: m.hs(scheme="Token"), UNAUTHORIZED),
    Case("valid jwt without a scheme", lambda m: _bare(m.hs()), UNAUTHORIZED),
    Case("valid jwt followed by a second word", lambda m: _suffixed(m.hs(), " extra"), UNAUTHORIZED),
    # ---- RS256 / ES256 from the JWKS ----
    Case("rs256 valid (jwks)", lambda m: m.signed(m.keys.rsa), ALLOW, JWKS_ENV),
    Case("es256 valid (jwks)", lambda m: m.signed(m.keys.ec), ALLOW, JWKS_ENV),
    Case("rs256 unknown kid", lambda m: m.signed(m.keys.rsa, kid="nobody"), UNAUTHORIZED, JWKS_ENV),
    Case("rs256 without kid", lambda m: m.signed(m.keys.rsa, kid=None), UNAUTHORIZED, JWKS_ENV),
    Case("rs256 foreign key under a published kid", lambda m: m.signed(m.keys.rsa_foreign), UNAUTHORIZED, JWKS_ENV),
    Case("rs256 payload tampered", lambda m: tampered(m.signed(m.keys.rsa), org_id=1), UNAUTHORIZED, JWKS_ENV),
    Case("rs256 1024-bit key (published)", lambda m: m.signed(m.keys.rsa_weak), UNAUTHORIZED, JWKS_ENV),
    Case(
        "es256 header naming the rsa key's kid",
        lambda m: m.signed(m.keys.ec, kid=m.keys.rsa.kid),
        UNAUTHORIZED,
        JWKS_ENV,
    ),
    Case(
        "es256 token when only rs256 is configured",
        lambda m: m.signed(m.keys.ec),
        UNAUTHORIZED,
        {"JWT_ALGORITHMS": "RS256", "JWT_JWKS_URL": JWKS},
    ),
    Case(
        "rs256 from a foreign key announced by jku/jwk headers",
        lambda m: m.signed(
            m.keys.rsa_foreign,
            kid="attacker-1",
            extra_headers={"jku": "https://evil.test/jwks.json", "jwk": m.keys.rsa_foreign.public_jwk()},
        ),
        UNAUTHORIZED,
        JWKS_ENV,
    ),
    Case(
        "rs256 expired",
        lambda m: m.signed(m.keys.rsa, m.claims(exp=m.at(-120))),
        UNAUTHORIZED,
        JWKS_ENV,
    ),
    # ---- API keys (rows in Postgres) ----
    Case("api key valid (legacy: no usage_key yet)", lambda m: m.api_key(), ALLOW),
    Case("api key valid, metered by its usage_key", lambda m: m.api_key(usage_key=f"uk_{m.org_id}_0123456789"), ALLOW),
    Case(
        "api key revoked, with a usage_key",
        lambda m: m.api_key(revoked=True, usage_key=f"uk_{m.org_id}_revoked_0123"),
        UNAUTHORIZED,
    ),
    Case("api key valid with a future expiry", lambda m: m.api_key(expires_in=timedelta(days=1)), ALLOW),
    Case("api key scheme in lowercase", lambda m: m.api_key(scheme="bearer"), ALLOW),
    Case("api key revoked", lambda m: m.api_key(revoked=True), UNAUTHORIZED),
    Case("api key expiring exactly now", lambda m: m.api_key(expires_in=timedelta(0)), UNAUTHORIZED),
    Case("api key expired yesterday", lambda m: m.api_key(expires_in=timedelta(days=-1)), UNAUTHORIZED),
    Case("api key unknown prefix", lambda m: m.api_key(store=False), UNAUTHORIZED),
    Case("api key right prefix, wrong secret", lambda m: _wrong_secret(m.api_key()), UNAUTHORIZED),
    Case("api key uppercase prefix", lambda m: m.header("Bearer pa_ABCDEFGH_" + "s" * 43), UNAUTHORIZED),
    Case("api key 7-character prefix", lambda m: m.header("Bearer pa_abcdefg_" + "s" * 43), UNAUTHORIZED),
    Case("api key 31-character secret", lambda m: m.header("Bearer pa_abcdefgh_" + "s" * 31), UNAUTHORIZED),
    Case("api key secret with a dot", lambda m: m.header("Bearer pa_abcdefgh_" + "s" * 40 + ".x"), UNAUTHORIZED),
    Case("api key marker only", lambda m: m.header("Bearer pa_"), UNAUTHORIZED),
    # ---- server faults: never a 401 ----
    Case("hs256 secret shorter than 32 bytes", lambda m: m.hs(), SERVER_FAULT, {"JWT_SECRET": SHORT_SECRET}),
    Case("hs256 without any secret configured", lambda m: m.hs(), SERVER_FAULT, {"JWT_SECRET": None}),
    Case(
        "hs256 rotation with a short secret",
        lambda m: m.hs(kid="a"),
        SERVER_FAULT,
        {"JWT_SECRET": json.dumps({"a": HS_SECRET, "b": SHORT_SECRET})},
    ),
    Case("hs256 secrets as broken JSON", lambda m: m.hs(kid="a"), SERVER_FAULT, {"JWT_SECRET": '{"a": '}),
    Case("hs256 secrets as an empty JSON object", lambda m: m.hs(kid="a"), SERVER_FAULT, {"JWT_SECRET": "{}"}),
    Case(
        "jwks url over plain http",
        lambda m: m.signed(m.keys.rsa),
        SERVER_FAULT,
        {"JWT_ALGORITHMS": "RS256", "JWT_JWKS_URL": JWKS_HTTP},
    ),
    Case(
        "JWT_ALGORITHMS=none",
        lambda m: m.header(f"Bearer {unsigned(m.claims())}"),
        SERVER_FAULT,
        {"JWT_ALGORITHMS": "none"},
    ),
    Case("JWT_ALGORITHMS listing none", lambda m: m.hs(), SERVER_FAULT, {"JWT_ALGORITHMS": "HS256,none"}),
    Case("JWT_LEEWAY_SECONDS not a number", lambda m: m.hs(), SERVER_FAULT, {"JWT_LEEWAY_SECONDS": "soon"}),
    Case("rs256 accepted but no JWKS URL", lambda m: m.signed(m.keys.rsa), SERVER_FAULT, {"JWT_ALGORITHMS": "RS256"}),
    Case(
        "rs256 with the JWKS unreachable",
        lambda m: m.signed(m.keys.rsa),
        SERVER_FAULT,
        {"JWT_ALGORITHMS": "RS256", "JWT_JWKS_URL": CLOSED},
    ),
    Case("valid jwt but no frontend usage key", lambda m: m.hs(), SERVER_FAULT, {"FRONTEND_USAGE_KEY": None}),
    Case(
        "api key with the database down",
        lambda m: m.api_key(store=False),
        SERVER_FAULT,
        {"DATABASE_URL": "<closed-db>"},
    ),
]


def _renamed(credential: Credential, header_name: str) -> Credential:
    credential.header_name = header_name
    return credential


def _bare(credential: Credential) -> Credential:
    assert credential.header is not None
    return Credential(header=credential.header.split(" ", 1)[1], sensitive=credential.sensitive)


def _suffixed(credential: Credential, suffix: str) -> Credential:
    return Credential(header=f"{credential.header}{suffix}", sensitive=credential.sensitive)


def _wrong_secret(credential: Credential) -> Credential:
    assert credential.header is not None
    key = credential.header.split(" ", 1)[1]
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    return Credential(header=f"Bearer {forged}", sensitive=[*credential.sensitive, forged, forged.split("_", 2)[2]])


def test_the_table_covers_every_outcome() -> None:
    outcomes = [case.outcome for case in CASES]
    assert len(CASES) >= 30
    assert {ALLOW, UNAUTHORIZED, SERVER_FAULT} == set(outcomes)
    assert len({case.label for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.label for case in CASES])
def test_credential_has_its_exact_outcome(
    case: Case,
    db: Stores,
    ids: Iterator[int],
    now: datetime,
    keys: Keys,
    jwks_server: JwksServer,
    auth_env: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    placeholders = {
        JWKS: jwks_server.url,
        CLOSED: closed_port_url(),
        JWKS_HTTP: jwks_server.url.replace("https://", "http://"),
        "<closed-db>": closed_port_url("/analytics").replace("https://", "postgresql://u:p@"),
    }
    for name, value in case.env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, placeholders.get(value, value))
    postgres_client.cache_clear()
    maker = Maker(db, ids, now, keys)
    credential = case.make(maker)
    event = authorizer_event(credential.header, header_name=credential.header_name)

    response: dict[str, Any] | None = None
    failure: BaseException | None = None
    with captured_log_lines() as lines:
        try:
            response = authorize(event)
        except Exception as exc:  # noqa: BLE001 - the outcome is classified below
            failure = exc

    if case.outcome == ALLOW:
        assert failure is None, f"expected Allow, got {failure!r}"
        assert response is not None
        assert normalized(response) == expected_allow(
            credential.org_id, credential.principal_id, credential.auth_type, credential.usage_key
        )
    elif case.outcome == UNAUTHORIZED:
        assert type(failure) is Exception and str(failure) == "Unauthorized", f"expected 401, got {failure!r}"
    else:
        assert failure is not None, f"expected a server fault, got {response!r}"
        assert str(failure) != "Unauthorized", "a server fault must not be reported as 401"

    assert lines, "the decision is logged"
    secrets_seen = [*credential.sensitive, HS_SECRET, HS_NEXT_SECRET, FRONTEND_KEY, SHORT_SECRET]
    for line in lines:
        for secret in secrets_seen:
            assert secret not in line, f"a secret reached the log: {line[:200]}"
