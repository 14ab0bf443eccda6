"""IAM evaluation of an authorizer's policy, as API Gateway does it for `execute-api:Invoke`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REGION = "local"
ACCOUNT_ID = "000000000000"
REST_API_ID = "localapi"
STAGE = "local"


def method_arn(method: str, path: str) -> str:
    return f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{REST_API_ID}/{STAGE}/{method}/{path.lstrip('/')}"


def policy_allows(policy: Mapping[str, Any], arn: str) -> bool:
    """Whether `policy` allows `execute-api:Invoke` on `arn`: some statement allows it and none denies it."""
    statements = policy.get("Statement") or []
    if isinstance(statements, Mapping):
        statements = [statements]
    allowed = False
    for statement in statements:
        if not isinstance(statement, Mapping) or not _covers(statement.get("Action"), "execute-api:Invoke", True):
            continue
        if not _covers(statement.get("Resource"), arn, False):
            continue
        effect = statement.get("Effect")
        if effect == "Deny":
            return False
        if effect == "Allow":
            allowed = True
    return allowed


def _covers(patterns: Any, value: str, ignore_case: bool) -> bool:
    """IAM wildcards: `*` any run of characters, `?` one character (actions match case-insensitively)."""
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, list):
        return False
    flags = re.IGNORECASE if ignore_case else 0
    for pattern in patterns:
        if not isinstance(pattern, str):
            continue
        regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
        if re.fullmatch(regex, value, flags | re.DOTALL):
            return True
    return False
