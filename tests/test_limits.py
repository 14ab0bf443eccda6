"""The local gateway's request limits, read from template.yaml: WAF rate rules, the stage throttle, usage plans.

A clock the test moves stands in for time; the functions behind the routes are stand-ins (the limits are the
gateway's, before any function runs), and the authorizer maps each token to an organization and a usage key
as the real one does: every JWT caller gets the frontend's shared usage key, an API key its own.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from devstack.gateway import HttpRequest, HttpResponse, LocalGateway
from devstack.limits import Limits, LimitsSpec, Quota, Throttle, UsagePlan, read_limits
from devstack.template import Values, load_template
from tests.gateway_support import stand_in_gateway

FRONTEND_KEY = "frontend-usage-key"
CREDENTIALS = {  # token -> (org_id, usage key)
    "jwt-ann-org1": ("1", FRONTEND_KEY),
    "jwt-bob-org1": ("1", FRONTEND_KEY),
    "jwt-eve-org2": ("2", FRONTEND_KEY),
    "pa_free_key": ("3", "usage-free-3"),
}
OVERVIEW = "/api/analytics/overview/"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def authorizer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    token = event["headers"]["Authorization"].removeprefix("Bearer ")
    if token not in CREDENTIALS:
        raise RuntimeError("Unauthorized")
    org_id, usage_key = CREDENTIALS[token]
    statement = {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "*"}
    return {
        "principalId": token,
        "policyDocument": {"Version": "2012-10-17", "Statement": [statement]},
        "context": {"org_id": org_id},
        "usageIdentifierKey": usage_key,
    }


def answer_org(event: dict[str, Any], context: Any) -> dict[str, Any]:
    body = json.dumps({"org_id": event["requestContext"]["authorizer"]["org_id"]})
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": body}


def gateway(clock: Clock, **parameters: str) -> LocalGateway:
    built = stand_in_gateway(answer_org, authorizer=authorizer, monotonic=clock, parameters=parameters)
    built.limits.register(FRONTEND_KEY, built.limits.spec.frontend_plan())
    built.limits.register("usage-free-3", built.limits.spec.tier_plan("free"))
    return built


def get(gateway: LocalGateway, token: str | None, path: str = OVERVIEW, source_ip: str = "203.0.113.9") -> HttpResponse:
    headers = [("Authorization", f"Bearer {token}")] if token else []
    return gateway.handle(HttpRequest("GET", path, headers, source_ip=source_ip))


def statuses(gateway: LocalGateway, token: str, count: int) -> list[int]:
    return [get(gateway, token).status for _ in range(count)]


def test_without_waf_one_frontend_user_uses_up_the_shared_plan_for_every_tenant() -> None:
    clock = Clock()
    stack = gateway(clock, FrontendRateLimit="5", FrontendBurstLimit="5")
    assert statuses(stack, "jwt-ann-org1", 6) == [200] * 5 + [429]
    refused = get(stack, "jwt-eve-org2")  # another tenant, same instant: the shared bucket is empty
    assert (refused.status, json.loads(refused.body)) == (429, {"detail": "Too many requests."})
    assert (refused.header("Retry-After"), refused.header("Access-Control-Allow-Origin")) == ("1", "*")
    clock.now += 1.0  # five tokens back at 5 a second
    assert statuses(stack, "jwt-eve-org2", 5) == [200] * 5


def test_with_waf_a_burst_is_stopped_at_that_users_token_and_others_keep_their_budget() -> None:
    clock = Clock()
    stack = gateway(clock, EnableWaf="true", WafRequestsPerTokenPerMinute="10")
    assert statuses(stack, "jwt-ann-org1", 12) == [200] * 10 + [429] * 2
    blocked = get(stack, "jwt-ann-org1")
    assert (blocked.status, json.loads(blocked.body)) == (429, {"detail": "Too many requests."})
    assert (blocked.header("Retry-After"), blocked.header("Access-Control-Allow-Origin")) == ("60", "*")
    assert blocked.header("Content-Type") == "application/json"
    assert statuses(stack, "jwt-bob-org1", 10) == [200] * 10  # same tenant, another user
    assert json.loads(get(stack, "jwt-eve-org2").body) == {"org_id": "2"}  # another tenant
    clock.now += 30
    assert get(stack, "jwt-ann-org1").status == 429  # blocked requests count too: the window is still full
    clock.now += 61
    assert get(stack, "jwt-ann-org1").status == 200


def test_with_waf_one_address_is_limited_whatever_the_credential() -> None:
    clock = Clock()
    stack = gateway(clock, EnableWaf="true", WafRequestsPerIpPerMinute="10")
    answers = [get(stack, token).status for token in [None, "jwt-ann-org1", "bad", "jwt-eve-org2"] * 3]
    assert answers[:10] == [401, 200, 401, 200, 401, 200, 401, 200, 401, 200]
    assert answers[10:] == [429, 429]
    assert get(stack, "jwt-ann-org1", source_ip="198.51.100.7").status == 200


def test_the_stage_throttle_applies_before_the_authorizer_to_every_request() -> None:
    clock = Clock()
    calls: list[str] = []

    def counting_authorizer(event: dict[str, Any], context: Any) -> dict[str, Any]:
        calls.append(event["path"])
        return authorizer(event, context)

    stack = stand_in_gateway(
        answer_org,
        authorizer=counting_authorizer,
        monotonic=clock,
        parameters={"StageRateLimit": "1", "StageBurstLimit": "2"},
    )
    assert [get(stack, "jwt-ann-org1").status, get(stack, None, "/nowhere").status] == [200, 404]
    for path in (OVERVIEW, "/nowhere"):
        assert get(stack, "jwt-eve-org2", path).status == 429
    assert calls == [OVERVIEW]
    clock.now += 1.0
    assert get(stack, "jwt-eve-org2").status == 200


def test_an_api_key_is_metered_by_its_tiers_plan_throttle_and_quota() -> None:
    clock = Clock()
    stack = gateway(clock, FreeRateLimit="1", FreeBurstLimit="2", FreeQuotaLimit="3")
    assert statuses(stack, "pa_free_key", 3) == [200, 200, 429]
    assert get(stack, "jwt-ann-org1").status == 200  # the frontend's plan is another bucket
    clock.now += 5
    assert get(stack, "pa_free_key").status == 200  # the third of the month's three
    clock.now += 5
    over = get(stack, "pa_free_key")
    assert (over.status, json.loads(over.body), over.header("Retry-After")) == (
        429,
        {"detail": "Usage quota exceeded."},
        "3600",
    )


def test_a_quota_starts_again_with_its_period() -> None:
    days = [datetime(2026, 11, 30, 23, 59, tzinfo=UTC), datetime(2026, 12, 1, 0, 0, tzinfo=UTC)]
    today = iter([days[0], days[0], days[0], days[1]])
    plan = UsagePlan("P", "stack-p", None, Quota(2, "MONTH"))
    limits = Limits(LimitsSpec((), None, {"P": plan}), {"k": "P"}, lambda: 0.0, lambda: next(today))
    assert [limits.plan_refusal("k") for _ in range(4)] == [None, None, "QUOTA_EXCEEDED", None]
    assert limits.plan_refusal("unregistered") is None  # a key in no plan: API Gateway's keys are not known here


def test_the_limits_are_the_templates_values() -> None:
    template = load_template()
    defaults = {name: spec.get("Default") for name, spec in template["Parameters"].items()}
    spec = read_limits(template, Values(template))
    assert spec.waf_rules == ()  # EnableWaf defaults to false
    assert spec.stage == Throttle(float(defaults["StageRateLimit"]), int(defaults["StageBurstLimit"]))
    tiers = ("Free", "Starter", "Growth", "Enterprise")
    for tier in tiers:
        plan = spec.plans[spec.tier_plan(tier.lower())]
        assert plan.throttle == Throttle(float(defaults[f"{tier}RateLimit"]), int(defaults[f"{tier}BurstLimit"]))
        assert plan.quota == Quota(int(defaults[f"{tier}QuotaLimit"]), defaults["QuotaPeriod"])
    frontend = spec.plans[spec.frontend_plan()]
    assert (frontend.throttle, frontend.quota) == (
        Throttle(float(defaults["FrontendRateLimit"]), int(defaults["FrontendBurstLimit"])),
        None,
    )
    with_waf = read_limits(template, Values(template, {"EnableWaf": "true"}))
    assert [(rule.name, rule.limit, rule.window_seconds, rule.key) for rule in with_waf.waf_rules] == [
        ("rate-per-ip", int(defaults["WafRequestsPerIpPerMinute"]), 60, "ip"),
        ("rate-per-token", int(defaults["WafRequestsPerTokenPerMinute"]), 60, "authorization"),
    ]


def test_unknown_parameter_overrides_and_plans_are_refused() -> None:
    with pytest.raises(ValueError, match="NoSuchParameter"):
        LocalGateway(handlers={}, parameters={"NoSuchParameter": "1"})
    clock = Clock()
    with pytest.raises(ValueError, match="NoSuchPlan"):
        gateway(clock).limits.register("k", "NoSuchPlan")


def test_by_default_one_tokens_minute_cannot_empty_the_frontends_burst() -> None:
    """docs/deploy.md: with WAF on, what one user may send in a minute fits in the shared plan's bucket."""
    spec = read_limits(load_template(), Values(load_template(), {"EnableWaf": "true"}))
    [per_token] = [rule for rule in spec.waf_rules if rule.key == "authorization"]
    frontend = spec.plans[spec.frontend_plan()].throttle
    assert frontend is not None and per_token.window_seconds == 60
    assert per_token.limit < frontend.burst


def test_the_windows_of_quiet_callers_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("devstack.limits.MAX_COUNTED_KEYS", 3)
    clock = Clock()
    stack = gateway(clock, EnableWaf="true", WafRequestsPerTokenPerMinute="10")
    for token in ("one", "two", "three"):
        get(stack, token)  # 401s, counted per token (and all of them for the one address)
    assert stack.limits.counted_callers == 4
    clock.now += 61
    assert get(stack, "jwt-ann-org1").status == 200  # more than 3 windows: the quiet ones go first
    assert stack.limits.counted_callers == 2  # the address's and this token's
    for token in ("four", "five", "six"):
        get(stack, token)
    assert stack.limits.counted_callers == 5  # within a minute of the last sweep: no other sweep yet
    clock.now += 61
    get(stack, "jwt-ann-org1")
    assert stack.limits.counted_callers == 2
    assert statuses(stack, "jwt-ann-org1", 10) == [200] * 9 + [429]  # the live window still counts
