"""template.yaml: cfn-lint clean, the contract's logical ids and code locations, and what the SAM
transform really deploys (methods, auth, API keys, 405/CORS answers, usage plans, secrets, IAM)."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from analytics_common.endpoints import AUTHORIZER_FUNCTION, ENDPOINTS, NAMES
from devstack.template import load_template

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
FUNCTIONS = {AUTHORIZER_FUNCTION: "authorizer", **{endpoint.function: endpoint.name for endpoint in ENDPOINTS}}
SECRET_PARAMETERS = ("DatabaseSecretArn", "ClickHouseSecretArn", "JwtSecretArn")
STORE_TIMEOUT_SECONDS = 5
API_GATEWAY_TIMEOUT_SECONDS = 29


@cache
def _transformed() -> dict[str, Any]:
    from cfnlint.data import Serverless
    from cfnlint.decode import decode
    from cfnlint.helpers import load_resource
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    template, problems = decode(str(TEMPLATE))
    assert not problems, problems
    template = json.loads(json.dumps(template, default=str))
    for resource in template["Resources"].values():  # the translator wants S3 locations, not folders
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://bucket/function.zip"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            resource["Properties"]["ContentUri"] = "s3://bucket/layer.zip"
    translator = Translator(managed_policy_map=load_resource(Serverless, "ManagedPolicies.json"), sam_parser=Parser())
    region = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = "eu-west-1"  # the translator builds ARNs for some region
    try:
        return translator.translate(sam_template=template, parameter_values={})
    finally:
        if region is None:
            del os.environ["AWS_DEFAULT_REGION"]
        else:
            os.environ["AWS_DEFAULT_REGION"] = region


def transformed() -> dict[str, Any]:
    """The CloudFormation template SAM makes of template.yaml (what `sam deploy` creates)."""
    return copy.deepcopy(_transformed())


def api_paths() -> dict[str, Any]:
    return transformed()["Resources"]["AnalyticsApi"]["Properties"]["Body"]["paths"]


@pytest.mark.tools
def test_cfn_lint_is_clean() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(TEMPLATE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr  # no error, no warning, no informational


def test_the_endpoint_list_is_the_templates() -> None:
    """analytics_common.endpoints and template.yaml name the same endpoints: one missing or extra fails."""
    resources = load_template()["Resources"]
    routes = {
        (event["Properties"]["Path"], event["Properties"]["Method"], logical_id)
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
        for event in (resource["Properties"].get("Events") or {}).values()
        if event["Type"] == "Api"
    }
    assert routes == {(endpoint.resource, "GET", endpoint.function) for endpoint in ENDPOINTS}
    definition = resources["AnalyticsApi"]["Properties"]["DefinitionBody"]["paths"]
    assert set(definition) == {endpoint.resource for endpoint in ENDPOINTS} | {"/{proxy+}"}  # 405s, and any other path
    for endpoint in ENDPOINTS:
        assert resources[endpoint.function]["Properties"]["CodeUri"] == f"functions/{endpoint.name}/"
    assert len(set(NAMES)) == len(NAMES)
    # Each endpoint has its folder and its sample event, and nothing else does.
    assert {path.parent.name for path in (ROOT / "functions").glob("*/app.py")} == {*NAMES, "authorizer"}
    assert {path.stem for path in (ROOT / "events").glob("*.json")} == {*NAMES, "authorizer", "env"}


def test_functions_and_layer_follow_the_contract() -> None:
    resources = load_template()["Resources"]
    assert resources["AnalyticsApi"]["Type"] == "AWS::Serverless::Api"
    layer = resources["CommonLayer"]
    assert layer["Properties"]["ContentUri"] == "layers/common/"
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
    functions = {name: res for name, res in resources.items() if res["Type"] == "AWS::Serverless::Function"}
    assert set(functions) == set(FUNCTIONS)
    for logical_id, name in FUNCTIONS.items():
        props = functions[logical_id]["Properties"]
        assert props["CodeUri"] == f"functions/{name}/", logical_id
        assert props["Handler"] == "app.lambda_handler", logical_id
        assert props["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == f"analytics-{name}"
        # Built by layers/common/Makefile (no Docker, no local python3.13 needed).
        metadata = functions[logical_id]["Metadata"]
        assert (metadata["BuildMethod"], metadata["ContextPath"]) == ("makefile", "layers/common")
        if name in NAMES:
            assert props["Events"] == {
                "Get": {
                    "Type": "Api",
                    "Properties": {
                        "RestApiId": {"Ref": "AnalyticsApi"},
                        "Path": f"/api/analytics/{name}",
                        "Method": "GET",
                        "Auth": {"ApiKeyRequired": True},
                    },
                }
            }
    auth = resources["AnalyticsApi"]["Properties"]["Auth"]
    authorizer = auth["Authorizers"][auth["DefaultAuthorizer"]]
    assert authorizer["FunctionArn"] == {"GetAtt": "AuthorizerFunction.Arn"}
    assert authorizer["FunctionPayloadType"] == "REQUEST"
    assert authorizer["Identity"] == {"Headers": ["Authorization"], "ReauthorizeEvery": {"Ref": "ReauthorizeEvery"}}
    assert load_template()["Parameters"]["ReauthorizeEvery"]["Default"] == 300


def test_globals_runtime_and_time_limits() -> None:
    template = load_template()
    function = template["Globals"]["Function"]
    assert (function["Runtime"], function["Architectures"]) == ("python3.13", ["arm64"])
    assert STORE_TIMEOUT_SECONDS < function["Timeout"] < API_GATEWAY_TIMEOUT_SECONDS - 10
    assert int(function["Environment"]["Variables"]["STORE_TIMEOUT_SECONDS"]) == STORE_TIMEOUT_SECONDS
    authorizer = template["Resources"]["AuthorizerFunction"]["Properties"]
    assert STORE_TIMEOUT_SECONDS < authorizer["Timeout"] <= function["Timeout"]
    # Lambda gives CPU with memory: cold starts are CPU-bound imports, so not the 128 MB default.
    assert template["Parameters"]["FunctionMemorySize"]["Default"] >= 1024


# What each function reads, from its code: the four endpoints that query ClickHouse, the two that only
# query Postgres, and the authorizer (api_keys, through its own credential).
POSTGRES_ONLY = {"ActivationsFunction", "CopilotFunction"}
CURSOR_SIGNERS = {"SegmentsFunction", "ActivationsFunction"}  # they sign pagination cursors
STORE_SETTINGS = {
    logical_id: {"DATABASE_URL": "DatabaseUrl", "DATABASE_SECRET_ARN": "DatabaseSecretArn"}
    | (
        {}
        if logical_id in POSTGRES_ONLY
        else {"CLICKHOUSE_URL": "ClickHouseUrl", "CLICKHOUSE_SECRET_ARN": "ClickHouseSecretArn"}
    )
    for logical_id in FUNCTIONS
}
STORE_SETTINGS["AuthorizerFunction"] = {
    "DATABASE_URL": "AuthorizerDatabaseUrl",
    "DATABASE_SECRET_ARN": "AuthorizerDatabaseSecretArn",
}


def test_each_function_gets_exactly_its_stores_settings() -> None:
    resources = transformed()["Resources"]
    store_names = {"DATABASE_URL", "DATABASE_SECRET_ARN", "CLICKHOUSE_URL", "CLICKHOUSE_SECRET_ARN"}
    for logical_id in FUNCTIONS:
        variables = resources[logical_id]["Properties"]["Environment"]["Variables"]
        stores = {name: value["Ref"] for name, value in variables.items() if name in store_names}
        assert stores == STORE_SETTINGS[logical_id], logical_id
        assert {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_LOG_LEVEL", "POWERTOOLS_METRICS_NAMESPACE"} <= set(variables)
        assert resources[logical_id]["Properties"]["Architectures"] == ["arm64"]
    for name in ("ActivationsFunction", "CopilotFunction", "AuthorizerFunction"):  # and so no ClickHouse code path
        module = FUNCTIONS[name]
        code = "".join(path.read_text() for path in (ROOT / "functions" / module).glob("*.py"))
        assert "clickhouse" not in code.lower(), name
    authorizer = resources["AuthorizerFunction"]["Properties"]["Environment"]["Variables"]
    assert {"JWT_ALGORITHMS", "JWT_SECRET_ARN", "JWT_JWKS_URL", "JWT_ISSUER", "JWT_AUDIENCE"} <= set(authorizer)
    assert authorizer["FRONTEND_USAGE_KEY_SECRET_ARN"] == {"Ref": "FrontendUsageKeySecret"}


def test_get_needs_authorizer_and_api_key_while_preflight_and_405_need_neither() -> None:
    paths = api_paths()
    unknown = paths.pop("/{proxy+}")
    assert set(paths) == {endpoint.resource for endpoint in ENDPOINTS}
    for path, methods in paths.items():
        assert set(methods) == {"get", "options", "x-amazon-apigateway-any-method"}, path
        assert methods["get"]["security"] == [{"api_key": []}, {"TokenAuthorizer": []}], path
        assert methods["get"]["x-amazon-apigateway-integration"]["type"] == "aws_proxy"
        assert "security" not in methods["options"], path
        assert methods["options"]["x-amazon-apigateway-integration"]["type"] == "mock"
        other = methods["x-amazon-apigateway-any-method"]
        assert other["security"] == [{"NONE": []}], path  # SAM's marker for "no authorizer"
        integration = other["x-amazon-apigateway-integration"]
        assert integration["type"] == "mock"
        answer = integration["responses"]["default"]
        assert answer["statusCode"] == "405"
        assert json.loads(answer["responseTemplates"]["application/json"]) == {"detail": "Method not allowed."}
        assert answer["responseParameters"]["method.response.header.Allow"] == "'GET, OPTIONS'"
    # Any other path: 404 without the authorizer, and a preflight that succeeds, so a script can read the 404.
    assert set(unknown) == {"options", "x-amazon-apigateway-any-method"}
    assert unknown["options"]["x-amazon-apigateway-integration"]["responses"]["default"]["statusCode"] == "200"
    other = unknown["x-amazon-apigateway-any-method"]
    assert other["security"] == [{"NONE": []}]
    answer = other["x-amazon-apigateway-integration"]["responses"]["default"]
    assert answer["statusCode"] == "404"
    assert json.loads(answer["responseTemplates"]["application/json"]) == {"detail": "Not found."}
    cors_origin = answer["responseParameters"]["method.response.header.Access-Control-Allow-Origin"]
    assert cors_origin == {"Fn::Sub": "'${AllowedOrigins}'"}
    api = transformed()["Resources"]["AnalyticsApi"]["Properties"]
    assert api["MinimumCompressionSize"] == 1024  # gzip from 1 KiB, as the local gateway does
    assert api["ApiKeySourceType"] == "AUTHORIZER"
    authorizer = api["Body"]["securityDefinitions"]["TokenAuthorizer"]["x-amazon-apigateway-authorizer"]
    assert authorizer["type"] == "request"
    assert authorizer["identitySource"] == "method.request.header.Authorization"


def test_gateway_answers_are_json_errors_with_cors() -> None:
    responses = transformed()["Resources"]["AnalyticsApi"]["Properties"]["Body"][
        "x-amazon-apigateway-gateway-responses"
    ]
    expected_status = {
        "UNAUTHORIZED": "401",
        "ACCESS_DENIED": "403",
        "MISSING_AUTHENTICATION_TOKEN": "404",  # unknown path: API Gateway's 403 "Missing Authentication Token"
        "THROTTLED": "429",
        "QUOTA_EXCEEDED": "429",
        "DEFAULT_4XX": None,
        "DEFAULT_5XX": None,
    }
    assert set(responses) == set(expected_status)
    for response_type, status in expected_status.items():
        response = responses[response_type]
        assert response.get("statusCode") == status, response_type
        headers = response["responseParameters"]
        assert headers["gatewayresponse.header.Access-Control-Allow-Origin"] == {"Fn::Sub": "'${AllowedOrigins}'"}
        template = response["responseTemplates"]["application/json"]
        rendered = template.replace("$context.error.messageString", '"Some message"')
        assert set(json.loads(rendered)) == {"detail"}, response_type
    assert responses["UNAUTHORIZED"]["responseParameters"]["gatewayresponse.header.WWW-Authenticate"] == "'Bearer'"
    for response_type in ("THROTTLED", "QUOTA_EXCEEDED"):
        assert "gatewayresponse.header.Retry-After" in responses[response_type]["responseParameters"]
    assert json.loads(responses["MISSING_AUTHENTICATION_TOKEN"]["responseTemplates"]["application/json"]) == {
        "detail": "Not found."
    }


def test_usage_plans_per_tier_and_the_frontend_key() -> None:
    resources = transformed()["Resources"]
    plans = {k: v["Properties"] for k, v in resources.items() if v["Type"] == "AWS::ApiGateway::UsagePlan"}
    assert set(plans) == {f"{tier}UsagePlan" for tier in ("Free", "Starter", "Growth", "Enterprise", "Frontend")}
    for tier in ("Free", "Starter", "Growth", "Enterprise"):
        plan = plans[f"{tier}UsagePlan"]
        assert plan["Throttle"] == {
            "RateLimit": {"Ref": f"{tier}RateLimit"},
            "BurstLimit": {"Ref": f"{tier}BurstLimit"},
        }
        assert plan["Quota"] == {"Limit": {"Ref": f"{tier}QuotaLimit"}, "Period": {"Ref": "QuotaPeriod"}}
        assert plan["ApiStages"][0]["ApiId"] == {"Ref": "AnalyticsApi"}
    assert "Quota" not in plans["FrontendUsagePlan"]
    secret = resources["FrontendUsageKeySecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert "GenerateSecretString" in secret["Properties"]
    key = resources["FrontendUsageKey"]["Properties"]
    assert key["Value"] == {"Fn::Sub": "{{resolve:secretsmanager:${FrontendUsageKeySecret}:SecretString}}"}
    plan_key = resources["FrontendUsagePlanKey"]["Properties"]
    assert plan_key == {
        "KeyId": {"Ref": "FrontendUsageKey"},
        "KeyType": "API_KEY",
        "UsagePlanId": {"Ref": "FrontendUsagePlan"},
    }
    outputs = transformed()["Outputs"]
    assert {"ApiUrl", *(f"{plan}Id" for plan in plans)} <= set(outputs)


def _role_grants(role: dict[str, Any]) -> tuple[dict[str, str | None], list[Any]]:
    """(secret parameter or resource -> the condition under which the role may read it, the log resources)."""
    grants: dict[str, str | None] = {}
    logs: list[Any] = []
    for entry in role["Properties"]["Policies"]:
        condition, policy = None, entry
        if "Fn::If" in entry:
            condition, policy, otherwise = entry["Fn::If"]
            assert otherwise == {"Ref": "AWS::NoValue"}
        [statement] = policy["PolicyDocument"]["Statement"]
        assert statement["Effect"] == "Allow"
        if statement["Action"] == "secretsmanager:GetSecretValue":
            grants[statement["Resource"]["Ref"]] = condition
        else:
            assert statement["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"], statement
            assert condition is None
            logs.append(statement["Resource"])
    return grants, logs


def test_functions_read_exactly_their_secrets_and_only_when_configured() -> None:
    resources = transformed()["Resources"]
    for logical_id, name in FUNCTIONS.items():
        role = resources[logical_id]["Properties"]["Role"]
        assert role == {"Fn::GetAtt": [f"{logical_id}Role", "Arn"]}, logical_id  # ours, not one SAM makes
        grants, logs = _role_grants(resources[f"{logical_id}Role"])
        if logical_id == "AuthorizerFunction":
            assert grants == {
                "AuthorizerDatabaseSecretArn": "HasAuthorizerDatabaseSecret",
                "JwtSecretArn": "HasJwtSecret",
                "FrontendUsageKeySecret": None,
            }
        else:
            expected: dict[str, str | None] = {"DatabaseSecretArn": "HasDatabaseSecret"}
            if logical_id not in POSTGRES_ONLY:
                expected["ClickHouseSecretArn"] = "HasClickHouseSecret"
            if logical_id in CURSOR_SIGNERS:
                expected["CursorSecret"] = None
            assert grants == expected, logical_id
        assert logs == [{"Fn::GetAtt": [f"{name.capitalize()}LogGroup", "Arn"]}], logical_id  # its own log group only
    conditions = transformed()["Conditions"]
    for parameter, condition in (
        ("DatabaseSecretArn", "HasDatabaseSecret"),
        ("AuthorizerDatabaseSecretArn", "HasAuthorizerDatabaseSecret"),
        ("ClickHouseSecretArn", "HasClickHouseSecret"),
        ("JwtSecretArn", "HasJwtSecret"),
    ):
        assert conditions[condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, ""]}]}


def test_no_vpc_or_xray_policy_unless_enabled() -> None:
    resources = transformed()["Resources"]
    roles = {k: v for k, v in resources.items() if v["Type"] == "AWS::IAM::Role"}
    assert set(roles) == {f"{logical_id}Role" for logical_id in FUNCTIONS} | {"ApiGatewayLogsRole"}
    for logical_id in FUNCTIONS:
        managed = roles[f"{logical_id}Role"]["Properties"]["ManagedPolicyArns"]
        assert managed == [
            {
                "Fn::If": [
                    "HasVpc",
                    {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"},
                    {"Ref": "AWS::NoValue"},
                ]
            },
            {
                "Fn::If": [
                    "TracingEnabled",
                    {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AWSXrayWriteOnlyAccess"},
                    {"Ref": "AWS::NoValue"},
                ]
            },
        ], logical_id
        props = resources[logical_id]["Properties"]
        assert props["VpcConfig"]["Fn::If"][0] == "HasVpc"
        assert props["TracingConfig"] == {"Mode": {"Fn::If": ["TracingEnabled", "Active", "PassThrough"]}}
    assert roles["ApiGatewayLogsRole"]["Condition"] == "CreateApiGatewayLogRole"


def test_reserved_concurrency_per_function_with_no_reservation_possible() -> None:
    template = transformed()
    resources, conditions = template["Resources"], template["Conditions"]
    for logical_id in FUNCTIONS:
        parameter, condition = (
            ("AuthorizerReservedConcurrency", "HasAuthorizerReservation")
            if logical_id == "AuthorizerFunction"
            else ("FunctionReservedConcurrency", "HasFunctionReservation")
        )
        assert resources[logical_id]["Properties"]["ReservedConcurrentExecutions"] == {
            "Fn::If": [condition, {"Ref": parameter}, {"Ref": "AWS::NoValue"}]
        }
        assert conditions[condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, 0]}]}
        assert template["Parameters"][parameter]["Default"] > 0


def test_stage_throttle_and_json_access_log_without_the_token() -> None:
    resources = transformed()["Resources"]
    stage = resources["AnalyticsApiStage"]["Properties"]
    [settings] = stage["MethodSettings"]
    assert settings == {
        "ResourcePath": "/*",
        "HttpMethod": "*",
        "ThrottlingRateLimit": {"Ref": "StageRateLimit"},
        "ThrottlingBurstLimit": {"Ref": "StageBurstLimit"},
        "MetricsEnabled": True,
        "DataTraceEnabled": False,
        "CachingEnabled": False,
    }
    log = stage["AccessLogSetting"]
    assert log["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    fields = json.loads(log["Format"])  # every value a quoted $context variable: valid JSON as written
    assert {
        "requestId": "$context.requestId",
        "status": "$context.status",
        "latencyMs": "$context.responseLatency",
        "authorizerLatencyMs": "$context.authorizer.latency",
        "apiKeyId": "$context.identity.apiKeyId",
        "orgId": "$context.authorizer.org_id",
    }.items() <= fields.items()
    for value in fields.values():
        assert "$context.identity.apiKey}" not in value + "}"  # the key value itself is never logged
        assert "header" not in value.lower() and "authorization" not in value.lower()
    log_groups = {k: v for k, v in resources.items() if v["Type"] == "AWS::Logs::LogGroup"}
    for logical_id, group in log_groups.items():
        assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["LogsKey", "Arn"]}, logical_id
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, logical_id
    assert resources["LogsKey"]["Properties"]["EnableKeyRotation"] is True
    # Access logging needs the account's CloudWatch role: the API waits for it when this stack makes it.
    assert resources["AnalyticsApi"]["DependsOn"] == "ApiGatewayAccountReady"
    assert resources["ApiGatewayAccountReady"]["Metadata"] == {
        "Account": {"Fn::If": ["CreateApiGatewayLogRole", {"Ref": "ApiGatewayAccount"}, ""]}
    }


def test_optional_waf_with_managed_rules_and_rate_limits_per_ip_and_per_token() -> None:
    resources = transformed()["Resources"]
    waf = {k: v for k, v in resources.items() if v["Type"].startswith("AWS::WAFv2::")}
    assert set(waf) == {"WebAcl", "WebAclAssociation", "WafLogging"}
    assert all(v["Condition"] == "WafEnabled" for v in waf.values())
    acl = waf["WebAcl"]["Properties"]
    assert (acl["Scope"], acl["DefaultAction"]) == ("REGIONAL", {"Allow": {}})
    rules = {rule["Name"]: rule for rule in acl["Rules"]}
    managed = {
        rule["Statement"]["ManagedRuleGroupStatement"]["Name"]
        for rule in rules.values()
        if "ManagedRuleGroupStatement" in rule["Statement"]
    }
    assert managed == {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"}
    per_ip = rules["rate-per-ip"]["Statement"]["RateBasedStatement"]
    assert per_ip == {
        "Limit": {"Ref": "WafRequestsPerIpPerMinute"},
        "EvaluationWindowSec": 60,
        "AggregateKeyType": "IP",
    }
    per_token = rules["rate-per-token"]["Statement"]["RateBasedStatement"]
    assert per_token["AggregateKeyType"] == "CUSTOM_KEYS"
    assert per_token["CustomKeys"] == [
        {"Header": {"Name": "authorization", "TextTransformations": [{"Priority": 0, "Type": "NONE"}]}}
    ]
    assert per_token["Limit"] == {"Ref": "WafRequestsPerTokenPerMinute"}
    too_many = {
        "Block": {
            "CustomResponse": {
                "ResponseCode": 429,
                "CustomResponseBodyKey": "too-many-requests",
                "ResponseHeaders": [
                    {"Name": "Retry-After", "Value": "60"},
                    {"Name": "Access-Control-Allow-Origin", "Value": {"Ref": "AllowedOrigins"}},
                    {"Name": "Access-Control-Expose-Headers", "Value": "Retry-After"},
                ],
            }
        }
    }
    assert rules["rate-per-ip"]["Action"] == rules["rate-per-token"]["Action"] == too_many
    body = acl["CustomResponseBodies"]["too-many-requests"]
    assert (body["ContentType"], json.loads(body["Content"])) == ("APPLICATION_JSON", {"detail": "Too many requests."})
    assert len({rule["Priority"] for rule in rules.values()}) == len(rules)
    association = waf["WebAclAssociation"]["Properties"]
    stage_arn = "arn:${AWS::Partition}:apigateway:${AWS::Region}::/restapis/${AnalyticsApi}/stages/${AnalyticsApiStage}"
    assert association["ResourceArn"] == {"Fn::Sub": stage_arn}
    assert waf["WafLogging"]["Properties"]["RedactedFields"] == [{"SingleHeader": {"Name": "authorization"}}]


def test_checkov_skips_are_each_justified_next_to_their_resource() -> None:
    skipped = 0
    for logical_id, resource in load_template()["Resources"].items():
        for skip in ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip", []):
            assert set(skip) == {"id", "comment"}, logical_id
            assert skip["id"].startswith("CKV") and len(skip["comment"].split()) >= 8, (logical_id, skip)
            skipped += 1
    assert skipped > 0


def test_optional_vpc_logs_and_alarms() -> None:
    template = transformed()
    resources = template["Resources"]
    assert template["Parameters"]["SubnetIds"]["Default"] == ""
    for logical_id, name in FUNCTIONS.items():
        props = resources[logical_id]["Properties"]
        assert props["VpcConfig"]["Fn::If"][0] == "HasVpc"
        log_group = props["LoggingConfig"]["LogGroup"]["Ref"]
        assert resources[log_group]["Type"] == "AWS::Logs::LogGroup"
        assert resources[log_group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        assert resources[log_group]["Properties"]["LogGroupName"]["Fn::Sub"].endswith(f"/{name}")
    alarms = {
        v["Properties"].get("MetricName") or "Throttles"
        for v in resources.values()
        if v["Type"] == "AWS::CloudWatch::Alarm"
    }
    assert alarms == {"5XXError", "Latency", "Throttles", "AuthorizerFaults", "StoreFailures"}
    filters = {
        v["Properties"]["LogGroupName"]["Ref"]: v["Properties"]
        for v in resources.values()
        if v["Type"] == "AWS::Logs::MetricFilter"
    }
    assert set(filters) == {f"{name.capitalize()}LogGroup" for name in FUNCTIONS.values()}
    for log_group, metric_filter in filters.items():
        [metric] = metric_filter["MetricTransformations"]
        if log_group == "AuthorizerLogGroup":
            assert (metric_filter["FilterPattern"], metric["MetricName"]) == (
                '{ $.decision = "error" }',
                "AuthorizerFaults",
            )
        else:
            assert (metric_filter["FilterPattern"], metric["MetricName"]) == (
                '{ $.message = "store failure" }',
                "StoreFailures",
            )
        assert metric["MetricNamespace"] == "PlatformAnalytics"
    assert resources["ApiLatencyP99Alarm"]["Properties"]["ExtendedStatistic"] == "p99"
    throttled = {
        metric["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Ref"]
        for metric in resources["FunctionThrottlesAlarm"]["Properties"]["Metrics"]
        if "MetricStat" in metric
    }
    assert throttled == set(FUNCTIONS)


@pytest.mark.parametrize("parameter", SECRET_PARAMETERS)
def test_secret_arn_parameters_are_optional(parameter: str) -> None:
    assert load_template()["Parameters"][parameter]["Default"] == ""


def test_dashboard_body_is_json_naming_the_stack_resources() -> None:
    body, variables = transformed()["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    assert variables == {"ApiName": {"Fn::Sub": "${AWS::StackName}-analytics"}}
    names = set(re.findall(r"\$\{([A-Za-z:]+)\}", body))
    assert names == {"AWS::Region", "ApiName", "StageName", *FUNCTIONS}
    dashboard = json.loads(re.sub(r"\$\{[A-Za-z:]+\}", "x", body))
    titles = {widget["properties"]["title"] for widget in dashboard["widgets"]}
    assert {"Requests and errors", "API latency (ms)", "Faults, and error answers by cause (EMF)"} <= titles
    searches = re.findall(r"SEARCH\('\{([^}]+)\} MetricName=\\\"(\w+)\\\"", body)
    # The dimension sets analytics_common.metrics writes (tests/test_metrics.py), with Powertools' service.
    assert sorted(searches) == [
        ("PlatformAnalytics,cause,endpoint,service", "4xx"),
        ("PlatformAnalytics,cause,endpoint,service", "5xx"),
        ("PlatformAnalytics,endpoint,service", "ColdStart"),
        ("PlatformAnalytics,endpoint,service", "Latency"),
        ("PlatformAnalytics,endpoint,service,store", "StoreTime"),
    ]
