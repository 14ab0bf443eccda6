"""A weak ETag, Cache-Control, Vary, 304 on If-None-Match (weak comparison), and Server-Timing on every 200."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import datetime

from tests.conftest import Stores
from tests.lambda_support import api_event, invoke


def test_ok_responses_carry_a_weak_etag_and_a_304_answers_a_match(
    db: Stores, ids: Iterator[int], now: datetime
) -> None:
    org_id, segment_id = next(ids), next(ids)
    db.insert_pg("organizations", ["id", "name"], [[org_id, "Etag Org"]])
    db.insert_pg(
        "segments", ["id", "org_id", "name", "is_active", "member_count"], [[segment_id, org_id, "S", True, 0]]
    )

    first = invoke("overview", api_event("overview", org_id))
    headers = first["multiValueHeaders"]
    assert first["statusCode"] == 200
    # Weak: the gateway may gzip the body after the function, and one tag then names two representations.
    assert headers["ETag"] == ['W/"' + hashlib.sha256(first["body"].encode()).hexdigest()[:32] + '"']
    assert headers["Cache-Control"] == ["private, max-age=60"]
    assert headers["Vary"] == ["Authorization, Accept-Encoding"]
    # No QUERY_CACHE_TTL_SECONDS in the tests: the membership statement ran, uncached.
    assert re.fullmatch(r"pg;dur=\d+\.\d, ch;dur=\d+\.\d, cache;desc=off", headers["Server-Timing"][0])

    etag = headers["ETag"][0]
    opaque = etag.removeprefix("W/")
    for if_none_match in (etag, opaque, f'"other", {etag}', f'"other",{opaque}', "*"):
        again = invoke("overview", api_event("overview", org_id, headers={"if-none-match": if_none_match}))
        assert again["statusCode"] == 304, if_none_match
        assert again["body"] == ""
        assert again["multiValueHeaders"]["ETag"] == [etag]
        assert again["multiValueHeaders"]["Vary"] == ["Authorization, Accept-Encoding"]

    stale = invoke("overview", api_event("overview", org_id, headers={"If-None-Match": '"stale"'}))
    assert stale["statusCode"] == 200 and stale["body"] == first["body"]

    # New data, new body, new tag: the old tag no longer matches.
    db.insert_pg("segments", ["id", "org_id", "name", "is_active", "member_count"], [[next(ids), org_id, "S", True, 0]])
    changed = invoke("overview", api_event("overview", org_id, headers={"If-None-Match": etag}))
    assert changed["statusCode"] == 200
    assert changed["multiValueHeaders"]["ETag"] != [etag]


def test_errors_carry_no_etag() -> None:
    response = invoke("overview", api_event("overview", None, headers={"If-None-Match": "*"}))
    assert response["statusCode"] == 403
    assert "ETag" not in response["multiValueHeaders"]
