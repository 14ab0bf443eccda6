"""The API Gateway Lambda REQUEST authorizer: `Authorization: Bearer <JWT or API key>` -> IAM policy.

Invalid credentials raise `Exception("Unauthorized")`, which API Gateway turns
into 401. Anything else that goes wrong (a misconfigured secret, an unreachable
JWKS or database) propagates as a server fault (API Gateway answers 500): a
failure on our side must never look like a bad token. Nothing here logs a
token, a key or a secret; the log says only why a request was denied.
"""

import time
from datetime import datetime
from typing import Any

from authorizer_api_keys import verify_api_key
from authorizer_identity import InvalidCredentials, Principal, authorization_header, bearer_token
from authorizer_jwt import jwt_settings, verify_jwt
from authorizer_policy import allow_response
from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from analytics_common import clock, config
from analytics_common.api_keys import looks_like_api_key
from analytics_common.errors import ConfigurationError
from analytics_common.logs import use_json_logs_for_the_layer
from analytics_common.postgres import postgres_client

logger = Logger()
use_json_logs_for_the_layer(logger)


def authenticate(event: dict[str, Any], now: datetime) -> Principal:
    token = bearer_token(authorization_header(event))
    if looks_like_api_key(token):
        return verify_api_key(token, postgres_client, now)
    return verify_jwt(token, jwt_settings(), now)


def frontend_usage_key() -> str:
    """The usage-plan key of JWT callers (the frontend), cached like every secret."""
    key = config.setting_or_secret("FRONTEND_USAGE_KEY", "FRONTEND_USAGE_KEY_SECRET_ARN")
    if not key:
        raise ConfigurationError("FRONTEND_USAGE_KEY or FRONTEND_USAGE_KEY_SECRET_ARN must be set")
    return key


def decision_fields(event: dict[str, Any], started: float, decision: str) -> dict[str, Any]:
    """What every decision line carries (besides the request id Powertools adds as `correlation_id`)."""
    return {
        "decision": decision,
        "method": event.get("httpMethod"),
        "endpoint": event.get("resource") or event.get("path"),
        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
    }


# log_event=False: the event holds the token, whatever POWERTOOLS_LOGGER_LOG_EVENT says.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        principal = authenticate(event, clock.utc_now())
        response = allow_response(event.get("methodArn", ""), principal, principal.usage_key or frontend_usage_key())
    except InvalidCredentials as denied:
        logger.info("denied", extra={**decision_fields(event, started, "deny"), "status": 401, "reason": denied.reason})
        raise Exception("Unauthorized") from None  # the exact message API Gateway maps to 401
    except Exception:
        logger.exception("authorizer fault", extra={**decision_fields(event, started, "error"), "status": 500})
        raise
    logger.info(
        "allowed",
        extra={
            **decision_fields(event, started, "allow"),
            "org_id": str(principal.org_id),  # as in the context, so it matches the endpoints' lines
            "principal_id": principal.principal_id,
            "auth_type": principal.auth_type,
        },
    )
    return response
