"""template.yaml: cfn-lint clean, the contract's logical ids and code locations, and what the SAM
transform really deploys (methods, auth, API keys, 405/CORS answers, usage plans, secrets, IAM)."""

from __future__ import annotations

import copy
import json
import os
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
        assert functions[logical_id]["Metadata"] == {"BuildMethod": "makefile", "ContextPath": "layers/common"}
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


def test_environment_follows_spec_section_5() -> None:
    resources = transformed()["Resources"]
    store_settings = {"DATABASE_URL", "DATABASE_SECRET_ARN", "CLICKHOUSE_URL", "CLICKHOUSE_SECRET_ARN"}
    for logical_id in FUNCTIONS:
        variables = resources[logical_id]["Properties"]["Environment"]["Variables"]
        assert store_settings <= set(variables), logical_id
        assert {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_LOG_LEVEL", "POWERTOOLS_METRICS_NAMESPACE"} <= set(variables)
        assert resources[logical_id]["Properties"]["Architectures"] == ["arm64"]
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


def _secret_grants(role: dict[str, Any]) -> dict[str, str | None]:
    """Secret parameter (or resource) -> the condition under which the role may read it."""
    grants: dict[str, str | None] = {}
    for entry in role["Properties"].get("Policies", []):
        condition, policy = None, entry
        if "Fn::If" in entry:
            condition, policy, otherwise = entry["Fn::If"]
            assert otherwise == {"Ref": "AWS::NoValue"}
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            assert statement["Action"] == ["secretsmanager:GetSecretValue"], statement
            resource = statement["Resource"]["Fn::Sub"][1]["secretArn"]["Ref"]
            grants[resource] = condition
    return grants


def test_functions_read_exactly_their_secrets_and_only_when_configured() -> None:
    resources = transformed()["Resources"]
    endpoint_grants = {"DatabaseSecretArn": "HasDatabaseSecret", "ClickHouseSecretArn": "HasClickHouseSecret"}
    for logical_id in FUNCTIONS:
        grants = _secret_grants(resources[f"{logical_id}Role"])
        if logical_id == "AuthorizerFunction":
            assert grants == {
                "DatabaseSecretArn": "HasDatabaseSecret",
                "JwtSecretArn": "HasJwtSecret",
                "FrontendUsageKeySecret": None,
            }
        elif logical_id in ("SegmentsFunction", "ActivationsFunction"):  # they sign pagination cursors
            assert grants == {**endpoint_grants, "CursorSecret": None}, logical_id
        else:
            assert grants == endpoint_grants, logical_id
    conditions = transformed()["Conditions"]
    for parameter, condition in (*endpoint_grants.items(), ("JwtSecretArn", "HasJwtSecret")):
        assert conditions[condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, ""]}]}


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
    assert alarms == {"5XXError", "Latency", "Throttles"}
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
