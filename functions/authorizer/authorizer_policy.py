"""The authorizer's answer: an IAM policy for the GET endpoints (analytics_common.endpoints), context, usage key.

API Gateway caches one decision per token and applies it to whatever the
caller requests next, so the policy allows every endpoint of the contract (with
and without the trailing slash), but only GET, and only on the API and stage
that asked (both taken from `methodArn`).
"""

from __future__ import annotations

import re
from typing import Any

from authorizer_identity import Principal
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerResponse,
    HttpVerb,
)

from analytics_common.endpoints import ENDPOINTS

METHOD_ARN_PATTERN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):execute-api:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"(?P<api_id>[A-Za-z0-9]+)/(?P<stage>[A-Za-z0-9_-]+)/[A-Za-z*]+(?:/.*)?"
)


def endpoint_paths() -> list[str]:
    return [path for endpoint in ENDPOINTS for path in (endpoint.resource, endpoint.path)]


def allow_response(method_arn: str, principal: Principal, usage_key: str) -> dict[str, Any]:
    """The Allow answer for `principal` on the API and stage of `method_arn`."""
    match = METHOD_ARN_PATTERN.fullmatch(method_arn)
    if match is None:  # API Gateway always sends one; without it there is no API to allow
        raise ValueError("the authorizer event has no valid methodArn")
    response = APIGatewayAuthorizerResponse(
        principal_id=principal.principal_id,
        region=match["region"],
        aws_account_id=match["account"],
        api_id=match["api_id"],
        stage=match["stage"],
        context={
            "org_id": str(principal.org_id),
            "principal_id": principal.principal_id,
            "auth_type": principal.auth_type,
        },
        usage_identifier_key=usage_key,
        partition=match["partition"],
    )
    for path in endpoint_paths():
        response.allow_route(HttpVerb.GET.value, path)
    return response.asdict()
