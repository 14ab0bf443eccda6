"""Half-up rounding in exact integer arithmetic, for `overlap_pct` and `success_rate` (docs/api.md §3).

Python's `round` rounds half to even, and a float quotient misrounds values such as `x.x5`; the
contract rounds half up, so the quotient is rounded in integers before it becomes a number.
"""


def half_up(numerator: int, denominator: int) -> int:
    """`numerator / denominator` rounded half up to an integer (both non-negative, denominator > 0)."""
    return (2 * numerator + denominator) // (2 * denominator)
