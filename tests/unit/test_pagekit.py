"""Portal text formats: money, dates, open-ended dates, member ID matching (clock times:
test_error_pages)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from bots.errors import LayoutChanged
from bots.flowkit.pages import DateRole, birth_date, date_range, money, require_headers, us_date
from bots.matching import member_fits


def test_money_and_dates():
    assert money("$1,234.50") == Decimal("1234.50")
    assert money("(12.00)") == Decimal("-12.00")
    assert money("—") is None
    with pytest.raises(LayoutChanged):
        money("twelve")
    assert us_date("12/31/9999", open_ended_is_none=True) is None
    assert us_date("12/31/9999") == date(9999, 12, 31)
    assert date_range("06/01/2026 – 06/03/2026") == (date(2026, 6, 1), date(2026, 6, 3))


def test_a_two_digit_year_on_a_page_is_read_by_what_the_date_is():
    today = date(2026, 12, 2)
    with pytest.raises(LayoutChanged):  # which century is a guess unless the field says
        us_date("12/03/26")
    assert us_date("12/03/26", role=DateRole.SERVICE, today=today) == date(2026, 12, 3)
    assert us_date("06/15/27", role=DateRole.SERVICE, today=today) == date(2027, 6, 15)
    assert us_date("12/03/26", role=DateRole.BIRTH, today=today) == date(1926, 12, 3)
    assert birth_date("05/17/80") == date(1980, 5, 17)
    assert birth_date("01/02/03") == date(2003, 1, 2)
    assert date_range("11/30/26 - 12/01/26") == (date(2026, 11, 30), date(2026, 12, 1))


def test_member_id_fits_only_the_same_id_or_its_subscriber_prefix_with_the_dob():
    dob = date(1980, 1, 2)
    assert member_fits("acm12345678901", dob, "ACM-123456789 01", dob)
    assert member_fits("ACM123456789", dob, "ACM12345678902", dob)  # subscriber ID asked
    assert not member_fits("ACM123456789", None, "ACM12345678902", None)  # ... needs the DOB
    assert not member_fits("ACM1234", dob, "ACM12345678902", dob)  # a fragment is not one
    assert not member_fits("ACM12345678902", dob, "ACM12345678901", dob)
    assert not member_fits("45123378", dob, "0045123378", dob)  # leading zeros matter
    assert not member_fits("", dob, "ACM1", dob)


def test_a_table_whose_columns_changed_is_a_layout_change():
    table = {"heading": "Benefits", "headers": ["A", "B"], "rows": []}
    require_headers(table, ("B", "A"))
    with pytest.raises(LayoutChanged):
        require_headers(table, ("A", "B", "C"))
