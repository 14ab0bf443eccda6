"""gzip in the local gateway: API Gateway's `MinimumCompressionSize` rule, read from template.yaml."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from devstack import compression
from devstack.gateway import HttpRequest, LocalGateway
from devstack.template import API_ID, load_template, read_api
from tests.gateway_support import stand_in_gateway

ROOT = Path(__file__).resolve().parent.parent
OVERVIEW = "/api/analytics/overview/"


@pytest.mark.parametrize(
    ("accept_encoding", "accepted"),
    [
        ("gzip", True),
        ("gzip, deflate, br, zstd", True),  # what Chromium sends
        ("br;q=1.0, gzip;q=0.5", True),
        ("GZIP;Q=0.001", True),
        ("x-gzip", True),
        ("*", True),
        ("*;q=0.1, identity", True),
        ("gzip;q=0", False),
        ("gzip;q=0.000, *", False),  # gzip named with q=0: the wildcard does not bring it back
        ("*;q=0", False),
        ("deflate, br", False),
        ("identity", False),
        ("gzip;q=nonsense", False),
        ("", False),
        (None, False),
    ],
)
def test_accept_encoding_with_q_values(accept_encoding: str | None, accepted: bool) -> None:
    assert compression.accepts_gzip(accept_encoding) is accepted


def test_the_template_asks_for_gzip_from_one_kib() -> None:
    template = load_template()
    assert read_api(template).minimum_compression_size == 1024
    del template["Resources"][API_ID]["Properties"]["MinimumCompressionSize"]
    assert read_api(template).minimum_compression_size is None


def gateway(body: str, status: int = 200, template: Path | None = None) -> LocalGateway:
    def function(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"statusCode": status, "headers": {"Content-Type": "application/json", "ETag": 'W/"t"'}, "body": body}

    return stand_in_gateway(function, template or ROOT / "template.yaml")


def get(gw: LocalGateway, accept_encoding: str | None) -> Any:
    headers = [("Authorization", "Bearer t")]
    if accept_encoding is not None:
        headers.append(("Accept-Encoding", accept_encoding))
    return gw.handle(HttpRequest("GET", OVERVIEW, headers))


def test_answers_of_one_kib_or_more_are_gzipped_when_accepted() -> None:
    body = json.dumps({"values": list(range(400))})
    assert len(body) >= 1024
    gw = gateway(body)
    response = get(gw, "gzip, deflate, br")
    assert response.status == 200
    assert response.header("Content-Encoding") == "gzip"
    assert gzip.decompress(response.body).decode() == body
    assert len(response.body) < len(body)
    assert response.header("ETag") == 'W/"t"'  # the function's weak tag names both representations
    for refused in (None, "gzip;q=0", "br"):
        plain = get(gw, refused)
        assert plain.header("Content-Encoding") is None and plain.body.decode() == body, refused


def test_small_answers_and_304s_stay_as_they_are() -> None:
    small = json.dumps({"values": list(range(10))})
    response = get(gateway(small), "gzip")
    assert response.header("Content-Encoding") is None and response.body.decode() == small
    # The threshold is inclusive: exactly 1024 bytes is compressed, 1023 is not.
    for size, encoded in ((1023, False), (1024, True)):
        body = json.dumps({"v": "x" * (size - 9)})
        assert len(body) == size
        assert (get(gateway(body), "gzip").header("Content-Encoding") == "gzip") is encoded, size
    not_modified = get(gateway("", status=304), "gzip")
    assert not_modified.status == 304 and not_modified.body == b""
    assert not_modified.header("Content-Encoding") is None


def test_without_the_property_nothing_is_compressed(tmp_path: Path) -> None:
    text = (ROOT / "template.yaml").read_text()
    line = "      MinimumCompressionSize: 1024\n"
    assert text.count(line) == 1
    path = tmp_path / "template.yaml"
    path.write_text(text.replace(line, ""))
    body = json.dumps({"values": list(range(400))})
    response = get(gateway(body, template=path), "gzip")
    assert response.header("Content-Encoding") is None and response.body.decode() == body
