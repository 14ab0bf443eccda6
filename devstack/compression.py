"""gzip of the local gateway's answers, by the rule API Gateway applies with `MinimumCompressionSize`.

The REST API compresses a body of at least `MinimumCompressionSize` bytes when the request's
`Accept-Encoding` accepts gzip; without the property nothing is compressed. The local gateway reads
the same property from `template.yaml` (devstack.template), so local and deployed answers are alike.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence

UNCOMPRESSED_STATUSES = frozenset({204, 304})


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether `Accept-Encoding` accepts gzip (RFC 9110 §12.5.3): named or `*`, with a q-value above 0."""
    if not accept_encoding:
        return False
    weights: dict[str, float] = {}
    for item in accept_encoding.split(","):
        coding, *params = (part.strip() for part in item.split(";"))
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if coding:
            weights[coding.lower()] = weight
    weight = weights.get("gzip", weights.get("x-gzip", weights.get("*", 0.0)))
    return weight > 0


def compressed(
    minimum: int | None, accept_encoding: str | None, status: int, headers: Sequence[tuple[str, str]], body: bytes
) -> tuple[list[tuple[str, str]], bytes]:
    """The answer's headers and body, gzipped when the rule says so (else as they were)."""
    names = {name.lower() for name, _ in headers}
    if (
        minimum is None
        or len(body) < minimum
        or status in UNCOMPRESSED_STATUSES
        or "content-encoding" in names
        or not accepts_gzip(accept_encoding)
    ):
        return list(headers), body
    # mtime=0: the same body always gives the same bytes.
    return [*headers, ("Content-Encoding", "gzip")], gzip.compress(body, compresslevel=6, mtime=0)
