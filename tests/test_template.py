"""template.yaml: cfn-lint clean, and the logical ids and code locations of the contract."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"


class CfnLoader(yaml.SafeLoader):
    """A YAML loader that keeps CloudFormation short-form tags (`!Ref`, `!Sub`...) as plain values."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {suffix: value}


CfnLoader.add_multi_constructor("!", _tag)


def load_template() -> dict[str, Any]:
    return yaml.load(TEMPLATE.read_text(), Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass


def test_cfn_lint_is_clean() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(TEMPLATE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_functions_and_layer_follow_the_contract() -> None:
    resources = load_template()["Resources"]
    assert resources["AnalyticsApi"]["Type"] == "AWS::Serverless::Api"
    assert resources["CommonLayer"]["Properties"]["ContentUri"] == "layers/common/"
    functions = {name: res for name, res in resources.items() if res["Type"] == "AWS::Serverless::Function"}
    assert "AuthorizerFunction" in functions and "OverviewFunction" in functions
    for name, resource in functions.items():
        props = resource["Properties"]
        assert props["Handler"] == "app.lambda_handler", name
        code_dir = ROOT / props["CodeUri"]
        assert (code_dir / "app.py").is_file(), name
