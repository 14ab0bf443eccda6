"""analytics_common.rounding.half_up against Decimal's ROUND_HALF_UP over every small fraction."""

from decimal import ROUND_HALF_UP, Decimal

from analytics_common.rounding import half_up


def test_half_up_equals_decimal_round_half_up_for_every_small_fraction() -> None:
    for denominator in range(1, 120):
        for numerator in range(0, 3 * denominator + 1):
            expected = (Decimal(numerator) / Decimal(denominator)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
            assert half_up(numerator, denominator) == int(expected), (numerator, denominator)


def test_half_up_rounds_exact_halves_up_where_round_goes_to_even() -> None:
    assert [half_up(n, 2) for n in (1, 3, 5, 125 * 2 - 1)] == [1, 2, 3, 125]
    assert [round(n / 2) for n in (1, 5)] == [0, 2]  # what the builtin would have answered
