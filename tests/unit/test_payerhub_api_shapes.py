"""PayerHub API reads: a search answer missing its counts or rows is a changed API, never
"claim not on file" (no browser: the hub's answers are played by a fake ``_call``)."""

from __future__ import annotations

from typing import Any

import pytest

from bots.errors import ClaimNotFound, LayoutChanged
from bots.models import Attachment, ClaimStatusQuery
from flows._payerhub_api import HubApi
from flows.payerhub import ERROR_PAGES
from tests.conftest import run_async


def _ask(answer: dict[str, Any]) -> None:
    api = HubApi("http://hub.invalid", "payerhub", ERROR_PAGES)

    async def fake_call(
        page: Any, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], Attachment]:
        return answer, Attachment(filename="x.json")

    api.__dict__["_call"] = fake_call  # frozen dataclass: set the instance attribute directly
    query = ClaimStatusQuery(payer_id="ACME", claim_number="A260000000001")
    run_async(api.claim_status(None, query))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "answer",
    [
        {"results": []},  # no counts: used to read as total 0, "not on file"
        {"total": 2, "pages": 1},  # no rows
        {"total": "two", "pages": 1, "results": []},
        {"total": 1, "pages": 1, "results": None},
    ],
)
def test_a_search_answer_without_counts_or_rows_is_a_changed_api(answer: dict[str, Any]) -> None:
    with pytest.raises(LayoutChanged, match="claim search answer changed shape"):
        _ask(answer)


def test_an_answer_with_no_claims_is_still_not_on_file() -> None:
    with pytest.raises(ClaimNotFound):
        _ask({"total": 0, "pages": 1, "results": []})
