"""The specialists' workbook reads the day's answers from the store page by page while it
writes them (issue 21: a night's memory must not grow with its rows): every answer is in the
sheet, in order, once, however the pages fall; the whole-list read is not used."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from bots.engine.browserless import BrowserlessSessions
from bots.engine.runner import Runner
from bots.flowkit.scripted import ScriptedFlow, scripted_settings
from bots.models import EligibilityQuery, LookupKind
from bots.outputs.specialists_workbook import ELIGIBILITY_SHEET
from bots.outputs.workbook_sync import sync_workbook
from bots.settings import Settings
from bots.store import Store
from tests.conftest import run_async

ITEMS = 7


@pytest.fixture
def answered(tmp_path: Path) -> tuple[Settings, list[str]]:
    settings = scripted_settings(tmp_path / "var")
    ids = [f"SYN{k:06d}" for k in range(ITEMS)]
    rows = [
        (
            None,
            EligibilityQuery(
                payer_id="ALPHA",
                member_id=member,
                dob=date(1980, 1, 2),
                date_of_service=date(2026, 12, 1),
            ),
        )
        for member in ids
    ]
    store = Store.open(settings)
    try:
        runner = Runner(
            settings, store, flows={"alpha": ScriptedFlow()}, session_factory=BrowserlessSessions()
        )
        summary = run_async(runner.run(LookupKind.ELIGIBILITY, rows, force=True))
        assert summary.lookups == ITEMS
    finally:
        store.close()
    return settings, ids


def sheet_members(path: Path) -> list[Any]:
    wb = load_workbook(path, read_only=True)
    try:
        ws = wb[ELIGIBILITY_SHEET]
        header = next(ws.iter_rows(max_row=1, values_only=True))
        col = list(header).index("Member ID")
        return [row[col] for row in ws.iter_rows(min_row=2, values_only=True) if any(row)]
    finally:
        wb.close()


@pytest.mark.parametrize("page", [1, 2, 3, 500])
def test_every_answer_is_written_once_in_order_whatever_the_page_size(
    answered: tuple[Settings, list[str]], monkeypatch: pytest.MonkeyPatch, page: int
) -> None:
    settings, ids = answered
    pages: list[int] = []
    paged = Store.outcomes_of

    def outcomes_of(self: Store, item_ids: Any, since: Any, page_size: int = page) -> Any:
        for start in range(0, len(item_ids), page_size):
            pages.append(len(item_ids[start : start + page_size]))
        return paged(self, item_ids, since, page=page_size)

    def whole_list(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("the sync read the day's answers as one list")

    monkeypatch.setattr(Store, "outcomes_of", outcomes_of)
    monkeypatch.setattr(Store, "recent_outcomes", whole_list)
    store = Store.open(settings)
    try:
        report = sync_workbook(store, settings)
    finally:
        store.close()
    assert report.path == settings.workbook_path
    assert sheet_members(settings.workbook_path) == ids
    assert sum(pages) == ITEMS and max(pages) <= page
