"""The request limits in front of the functions, as template.yaml declares them, applied by the local gateway.

In the order a request meets them on AWS (docs/deploy.md, abuse limits):

1. AWS WAF's rate-based rules (the `AWS::WAFv2::WebACL`, when its condition holds): a count of the requests
   per source IP, or per `Authorization` value, over the rule's window; beyond the rule's limit the rule's
   Block answer (its custom response: 429 JSON). The managed rule groups are AWS's own and are not served.
2. The stage throttle (`MethodSettings` on `/*`, `*`): one token bucket for every request of the stage, before
   the authorizer runs; empty, API Gateway answers its `THROTTLED` response.
3. The usage plan of the usage key the authorizer chose (`AWS::ApiGateway::UsagePlan`): a token bucket per
   key (`Throttle`), then its `Quota` per period, answered as `THROTTLED` and `QUOTA_EXCEEDED`.

Locally, which plan a usage key belongs to is what the local stack registered (`usage_plan_keys`: the
frontend's key and the demo API key, as `FrontendUsagePlanKey` and `tools.apikeys create` register them on
AWS); a key registered nowhere passes unthrottled. Token buckets and windows are exact here, where AWS's are
approximate (WAF looks at its counts every few seconds, so a burst passes for a moment before it is blocked).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from devstack.template import API_ID, Values

Headers = tuple[tuple[str, str], ...]
MAX_COUNTED_KEYS = 10_000  # WAF windows kept (addresses and tokens) before the quiet ones are dropped


@dataclass(frozen=True)
class Throttle:
    rate: float  # requests per second, refilled continuously
    burst: int  # the bucket's size


@dataclass(frozen=True)
class Quota:
    limit: int
    period: str  # DAY, WEEK or MONTH


@dataclass(frozen=True)
class UsagePlan:
    logical_id: str
    name: str  # UsagePlanName, `${AWS::StackName}-<tier>` for a tier's plan
    throttle: Throttle | None
    quota: Quota | None


@dataclass(frozen=True)
class BlockAnswer:
    status: int
    headers: Headers
    body: str


@dataclass(frozen=True)
class RateRule:
    name: str
    limit: int
    window_seconds: int
    key: str  # "ip" or the lower-case name of the header whose value is counted
    answer: BlockAnswer


@dataclass(frozen=True)
class LimitsSpec:
    waf_rules: tuple[RateRule, ...]
    stage: Throttle | None
    plans: Mapping[str, UsagePlan]  # by logical id

    def frontend_plan(self) -> str:
        """The plan of the frontend's shared usage key (FrontendUsagePlanKey's plan)."""
        return self._plan_named("-frontend")

    def tier_plan(self, tier: str) -> str:
        """The plan `tools.apikeys create --tier` puts a key in: the one named `<stack>-<tier>`."""
        return self._plan_named(f"-{tier}")

    def _plan_named(self, suffix: str) -> str:
        [logical_id] = [plan.logical_id for plan in self.plans.values() if plan.name.endswith(suffix)]
        return logical_id


def read_limits(template: Mapping[str, Any], values: Values, api_id: str = API_ID) -> LimitsSpec:
    resources: Mapping[str, Any] = template.get("Resources") or {}
    api_props: Mapping[str, Any] = (resources.get(api_id) or {}).get("Properties") or {}
    plans = {
        logical_id: UsagePlan(
            logical_id,
            str(values(props.get("UsagePlanName", logical_id))),
            _throttle(props.get("Throttle"), values),
            _quota(props.get("Quota"), values),
        )
        for logical_id, resource in resources.items()
        if resource.get("Type") == "AWS::ApiGateway::UsagePlan"
        for props in [resource.get("Properties") or {}]
        if any(stage.get("ApiId") == {"Ref": api_id} for stage in props.get("ApiStages") or [])
    }
    return LimitsSpec(_waf_rules(template, values), _stage_throttle(api_props, values), plans)


def _stage_throttle(api_props: Mapping[str, Any], values: Values) -> Throttle | None:
    for setting in api_props.get("MethodSettings") or []:
        if setting.get("ResourcePath") == "/*" and setting.get("HttpMethod") == "*":
            rate, burst = values(setting.get("ThrottlingRateLimit")), values(setting.get("ThrottlingBurstLimit"))
            if rate is not None and burst is not None:
                return Throttle(float(rate), int(burst))
    return None


def _throttle(config: Mapping[str, Any] | None, values: Values) -> Throttle | None:
    if not config:
        return None
    return Throttle(float(values(config["RateLimit"])), int(values(config["BurstLimit"])))


def _quota(config: Mapping[str, Any] | None, values: Values) -> Quota | None:
    if not config:
        return None
    return Quota(int(values(config["Limit"])), str(values(config.get("Period", "MONTH"))))


def _waf_rules(template: Mapping[str, Any], values: Values) -> tuple[RateRule, ...]:
    rules: list[RateRule] = []
    for resource in (template.get("Resources") or {}).values():
        if resource.get("Type") != "AWS::WAFv2::WebACL" or not values.condition(resource.get("Condition")):
            continue
        props: Mapping[str, Any] = resource.get("Properties") or {}
        bodies: Mapping[str, Any] = props.get("CustomResponseBodies") or {}
        for rule in sorted(props.get("Rules") or [], key=lambda rule: int(rule["Priority"])):
            statement = (rule.get("Statement") or {}).get("RateBasedStatement")
            if statement is None or "Block" not in (rule.get("Action") or {}):
                continue
            rules.append(
                RateRule(
                    name=str(rule["Name"]),
                    limit=int(values(statement["Limit"])),
                    window_seconds=int(values(statement.get("EvaluationWindowSec", 300))),
                    key=_aggregation_key(statement),
                    answer=_block_answer(rule["Action"]["Block"] or {}, bodies, values),
                )
            )
    return tuple(rules)


def _aggregation_key(statement: Mapping[str, Any]) -> str:
    kind = statement.get("AggregateKeyType", "IP")
    if kind == "IP":
        return "ip"
    [custom] = statement.get("CustomKeys") or [{}]
    if kind != "CUSTOM_KEYS" or "Header" not in custom:
        raise ValueError(f"rate-based rule aggregating on {kind} {custom}: only IP or one header is served locally")
    return str(custom["Header"]["Name"]).lower()


def _block_answer(block: Mapping[str, Any], bodies: Mapping[str, Any], values: Values) -> BlockAnswer:
    custom: Mapping[str, Any] = block.get("CustomResponse") or {}
    if not custom:
        return BlockAnswer(403, (), "")  # WAF's own block: 403, which API Gateway answers as WAF_FILTERED
    body: Mapping[str, Any] = bodies.get(custom.get("CustomResponseBodyKey", ""), {})
    content_type = {"APPLICATION_JSON": "application/json", "TEXT_HTML": "text/html"}.get(
        str(body.get("ContentType")), "text/plain"
    )
    headers = tuple((str(h["Name"]), str(values(h["Value"]))) for h in custom.get("ResponseHeaders") or [])
    content = str(body.get("Content", ""))
    return BlockAnswer(int(custom["ResponseCode"]), (("Content-Type", content_type), *headers), content)


class TokenBucket:
    """API Gateway's throttle: `burst` requests at once, refilled at `rate` a second."""

    def __init__(self, throttle: Throttle, now: float) -> None:
        self.throttle = throttle
        self.tokens = float(throttle.burst)
        self.updated = now

    def take(self, now: float) -> bool:
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(float(self.throttle.burst), self.tokens + elapsed * self.throttle.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def quota_period_start(period: str, now: datetime) -> datetime:
    """The start of the quota period holding `now` (locally: days, Monday-weeks and months from 00:00 UTC)."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "DAY":
        return day
    if period == "WEEK":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


@dataclass
class _Counts:
    buckets: dict[str, TokenBucket] = field(default_factory=dict)
    quotas: dict[str, tuple[datetime, int]] = field(default_factory=dict)
    windows: dict[tuple[str, str], deque[float]] = field(default_factory=dict)


class Limits:
    """The counters of one gateway. Each check answers None (go on) or why the request stops."""

    def __init__(
        self,
        spec: LimitsSpec,
        usage_plan_keys: Mapping[str, str],
        monotonic: Callable[[], float],
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.spec = spec
        self._monotonic = monotonic
        self._wall_clock = wall_clock
        self._stage = TokenBucket(spec.stage, monotonic()) if spec.stage else None
        self._counts = _Counts()
        self._swept_at = float("-inf")  # when quiet windows were last dropped
        self._lock = threading.Lock()
        self.usage_plan_keys: dict[str, str] = {}
        for usage_key, plan in usage_plan_keys.items():
            self.register(usage_key, plan)

    def register(self, usage_key: str, plan: str) -> None:
        """Meter `usage_key` by the usage plan `plan` (a logical id), as a usage-plan key does on AWS."""
        if plan not in self.spec.plans:
            raise ValueError(f"{plan} is not a usage plan of the template")
        with self._lock:
            self.usage_plan_keys[usage_key] = plan

    def waf_block(self, source_ip: str, header: Callable[[str], str | None]) -> BlockAnswer | None:
        """The first rate rule the request goes over (every request is counted, blocked ones too, as WAF does)."""
        now = self._monotonic()
        blocked = None
        with self._lock:
            if len(self._counts.windows) > MAX_COUNTED_KEYS:  # many one-off tokens: forget the quiet ones
                self._forget_quiet_windows(now)  # (at most once a window: a sweep reads every window kept)
            for rule in self.spec.waf_rules:
                value = source_ip if rule.key == "ip" else header(rule.key)
                if value is None:
                    continue  # a header rule counts only the requests that carry the header
                window = self._counts.windows.setdefault((rule.name, value), deque())
                while window and window[0] <= now - rule.window_seconds:
                    window.popleft()
                window.append(now)
                if blocked is None and len(window) > rule.limit:
                    blocked = rule.answer
        return blocked

    @property
    def counted_callers(self) -> int:
        """How many (rule, address or token) windows are kept."""
        with self._lock:
            return len(self._counts.windows)

    def _forget_quiet_windows(self, now: float) -> None:
        longest = max(rule.window_seconds for rule in self.spec.waf_rules)
        if now - self._swept_at < min(rule.window_seconds for rule in self.spec.waf_rules):
            return
        self._swept_at = now
        for key, window in list(self._counts.windows.items()):
            if window[-1] <= now - longest:
                del self._counts.windows[key]

    def stage_throttled(self) -> bool:
        with self._lock:
            return self._stage is not None and not self._stage.take(self._monotonic())

    def plan_refusal(self, usage_key: str | None) -> str | None:
        """`THROTTLED` or `QUOTA_EXCEEDED` for the usage key's plan, or None."""
        plan_id = self.usage_plan_keys.get(usage_key) if usage_key else None
        if usage_key is None or plan_id is None:
            return None
        plan = self.spec.plans[plan_id]  # `register` takes only the template's plans
        now = self._monotonic()
        with self._lock:
            if plan.throttle is not None:
                bucket = self._counts.buckets.get(usage_key)
                if bucket is None:
                    bucket = self._counts.buckets[usage_key] = TokenBucket(plan.throttle, now)
                if not bucket.take(now):
                    return "THROTTLED"
            if plan.quota is not None:
                start = quota_period_start(plan.quota.period, self._wall_clock())
                counted_since, used = self._counts.quotas.get(usage_key, (start, 0))
                used = used if counted_since == start else 0
                if used >= plan.quota.limit:
                    return "QUOTA_EXCEEDED"
                self._counts.quotas[usage_key] = (start, used + 1)
        return None
