"""tools.repeat_check: which rows of a `duplicates` report fail `make check`."""

from tools.repeat_check import ALLOWED, not_allowed

REPORT = """\
5 pairs of places (101 files read), each sharing runs of 6 or more identical or same-shape lines
D1 devstack/demo_data.py:187-199 ~ devstack/demo_data.py:242-254 (+11 more runs)
D2 functions/overlap/app.py:13-26 ~ functions/usage/app.py:13-26 shape
D3 tests/test_a.py:1-9 ~ bench/b.py:4-12 shape
D4 tests/test_overlap.py:195-202 ~ tests/test_segments.py:130-137 shape boilerplate
D5 schema/clickhouse.sql:1-8 ~ schema/postgres.sql:77-82 shape
left out: 1 run of 6 lines that stand in more than 8 places each (too common to list)
"""


def test_rows_outside_the_allow_list_fail_and_boilerplate_passes() -> None:
    used: set[int] = set()
    rows, incomplete = not_allowed(REPORT, used)
    assert rows == [
        "D2 functions/overlap/app.py:13-26 ~ functions/usage/app.py:13-26 shape",
        "D3 tests/test_a.py:1-9 ~ bench/b.py:4-12 shape",
        "D5 schema/clickhouse.sql:1-8 ~ schema/postgres.sql:77-82 shape",  # allowed within postgres.sql only
    ]
    assert incomplete == []
    assert {ALLOWED[n].a for n in used} == {"devstack/demo_data.py"}  # main() notes the allowed pairs left unused


def test_an_incomplete_or_cut_scan_is_reported() -> None:
    cut = REPORT + "(+3 more pairs)\nincomplete: time: 20 s were not enough\n"
    assert not_allowed(cut)[1] == ["(+3 more pairs)", "incomplete: time: 20 s were not enough"]
    assert not_allowed("no duplicates (12 files read)\n") == ([], [])
