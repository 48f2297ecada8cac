"""Portal text formats: money, dates, open-ended dates, member ID matching (clock times:
test_error_pages)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from bots.errors import LayoutChanged
from bots.flowkit.pages import date_range, money, require_headers, us_date
from bots.models import member_id_fits


def test_money_and_dates():
    assert money("$1,234.50") == Decimal("1234.50")
    assert money("(12.00)") == Decimal("-12.00")
    assert money("—") is None
    with pytest.raises(LayoutChanged):
        money("twelve")
    assert us_date("12/31/9999", open_ended_is_none=True) is None
    assert us_date("12/31/9999") == date(9999, 12, 31)
    assert date_range("06/01/2026 – 06/03/2026") == (date(2026, 6, 1), date(2026, 6, 3))


def test_member_id_fits_only_the_same_id_or_its_subscriber_prefix():
    assert member_id_fits("ACM-123456789 01", "acm12345678901")
    assert member_id_fits("ACM12345678902", "ACM123456789")  # subscriber ID asked
    assert not member_id_fits("ACM12345678902", "ACM1234")  # a fragment is not a subscriber ID
    assert not member_id_fits("ACM12345678901", "ACM12345678902")
    assert not member_id_fits("0045123378", "45123378")  # leading zeros matter
    assert not member_id_fits("ACM1", "")


def test_a_table_whose_columns_changed_is_a_layout_change():
    table = {"heading": "Benefits", "headers": ["A", "B"], "rows": []}
    require_headers(table, ("B", "A"))
    with pytest.raises(LayoutChanged):
        require_headers(table, ("A", "B", "C"))
