"""Answers in words, codes beside them (issue 20): the code tables shipped with the project,
their loader, the sentences every surface says, and both workbooks read back with openpyxl
so that every code they show has its description next to it."""

from __future__ import annotations

import importlib.util
import os
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from bots.codes import (
    NO_DESCRIPTION,
    AdjustmentGroup,
    BenefitInfo,
    CoverageLevel,
    TimePeriod,
    YesNoUnknown,
    carc_text,
    category_words,
    claim_status_code_text,
    code_table,
    rarc_text,
    service_type_name,
    service_type_short,
    status_category_text,
    status_category_words,
    table_source,
)
from bots.models import Adjustment, Benefit, ClaimStatusResult, EligibilityResult
from bots.outputs.run_workbook import write_workbook
from bots.outputs.shown import (
    adjustment_text,
    benefit_line_text,
    claim_status_sentence,
    coverage_sentence,
    summary,
    with_descriptions,
)
from bots.outputs.specialists_workbook import EligibilityLine, write_specialist_workbook
from bots.settings import ROOT
from tests import rows as rows_
from tests.codes_shown import codes_in, undescribed

NOW = datetime(2026, 12, 1, 14, 30, tzinfo=UTC)
TABLES = ("carc", "rarc", "claim_status_category", "claim_status", "service_type")


def portal_codes() -> Any:
    """The mock portals' own code module (fixtures/portalkit/codes.py): what they can emit."""
    spec = importlib.util.spec_from_file_location(
        "portalkit_codes", ROOT / "fixtures" / "portalkit" / "codes.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the tables ---------------------------------------------------------------------------


def test_each_table_names_its_source_and_date_and_is_package_data():
    for name in TABLES:
        source = table_source(name)
        assert re.search(r"Source: https://x12\.org/\S+", source), name
        assert re.search(r"As of: \d{4}-\d{2}-\d{2}", source), name
        assert code_table(name), name
        assert all(
            row["code"] and row.get("description", row.get("name"))
            for row in code_table(name).values()
        )
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"codetables/*.csv"' in pyproject  # shipped in the wheel, not only in the checkout


def test_every_code_the_mock_portals_emit_has_a_description():
    kit = portal_codes()
    carcs = set(kit.CARC) | set(kit.DENIALS)
    rarcs = set(kit.RARC) | {r for _, remarks, _ in kit.DENIALS.values() for r in remarks}
    for code in carcs:
        assert carc_text(code) != NO_DESCRIPTION, code
    for code in rarcs:
        assert rarc_text(code) != NO_DESCRIPTION, code
    for category, status in kit.CLAIM_STATUSES:
        assert status_category_text(category) != NO_DESCRIPTION, category
        assert status_category_words(category) != NO_DESCRIPTION, category
        assert claim_status_code_text(status) != NO_DESCRIPTION, status
    for status in (code for _, _, code in kit.DENIALS.values()):
        assert claim_status_code_text(status) != NO_DESCRIPTION, status
    for code, name in kit.SERVICE_TYPES.items():
        assert service_type_name(code) == name  # the public name, as the portals show it


def test_every_carc_the_denial_triage_names_has_a_description():
    import tomllib

    config = tomllib.loads((ROOT / "config" / "followups.toml").read_text())
    for key, category in config["followups"]["denials"].items():
        for code in category.get("carcs", []):
            assert carc_text(code) != NO_DESCRIPTION, (key, code)


def test_the_loader_reads_words_and_an_unknown_code_is_never_blank():
    assert carc_text("16") == "Claim/service lacks information or has submission/billing error(s)"
    assert carc_text(" 16 ") == carc_text("16")
    assert rarc_text("ma130").startswith("Your claim contains incomplete and/or invalid")
    assert status_category_words("F2") == "Denied" and status_category_words("F1") == "Paid"
    assert status_category_text("P2").startswith("Pending/Payer review")
    assert service_type_name("98") == "Professional (Physician) Visit - Office"
    assert service_type_short("98") == "Office visit" and service_type_short("UC") == "Urgent care"
    for lookup in (carc_text, rarc_text, status_category_text, service_type_name):
        assert lookup("ZZ9") == NO_DESCRIPTION
        assert lookup(None) == NO_DESCRIPTION
    assert category_words("missing_information") == "Missing information"
    assert category_words(None) == ""


# --- the sentences ------------------------------------------------------------------------


def eligibility(**over: Any) -> EligibilityResult:
    fields: dict[str, Any] = {
        "portal": "payerhub",
        "payer_id": "ACME",
        "as_of": NOW,
        "date_of_service": date(2026, 12, 4),
        "coverage_active": True,
        "plan_name": "Acme Choice PPO",
        "group_number": "G383822",
        "benefits": (
            Benefit(
                service_type="98",
                benefit=BenefitInfo.COPAYMENT,
                in_network=YesNoUnknown.YES,
                coverage_level=CoverageLevel.INDIVIDUAL,
                amount=Decimal("30"),
            ),
            Benefit(
                service_type="30",
                benefit=BenefitInfo.DEDUCTIBLE,
                in_network=YesNoUnknown.YES,
                coverage_level=CoverageLevel.INDIVIDUAL,
                time_period=TimePeriod.CALENDAR_YEAR,
                total=Decimal("1500"),
                met=Decimal("0"),
                remaining=Decimal("1500"),
            ),
            Benefit(
                service_type="98",
                benefit=BenefitInfo.COINSURANCE,
                in_network=YesNoUnknown.NO,
                percent=Decimal("40"),
            ),
        ),
    }
    fields.update(over)
    return EligibilityResult(**fields)


def denied(**over: Any) -> ClaimStatusResult:
    fields: dict[str, Any] = {
        "portal": "payerhub",
        "payer_id": "ACME",
        "as_of": NOW,
        "claim_number": "CLM1",
        "dos_from": date(2026, 11, 3),
        "dos_to": date(2026, 11, 3),
        "category": "F2",
        "status_code": "85",
        "billed": Decimal("135"),
        "allowed": None,
        "paid": Decimal("0"),
        "adjustments": (
            Adjustment(
                group_code=AdjustmentGroup.CONTRACTUAL,
                carc="16",
                rarc=("MA130", "M51"),
                amount=Decimal("135"),
            ),
        ),
    }
    fields.update(over)
    return ClaimStatusResult(**fields)


def test_coverage_in_one_sentence():
    assert (
        coverage_sentence(eligibility(), "2026-12-04")
        == "Active on 12/04/2026 — Acme Choice PPO, group G383822"
    )
    ended = eligibility(coverage_active=False, termination_date=date(2026, 11, 30))
    assert coverage_sentence(ended, date(2026, 12, 4)) == (
        "Inactive on 12/04/2026 — Acme Choice PPO, group G383822 (coverage ended 11/30/2026)"
    )
    assert coverage_sentence(None, "2026-12-04") == "Unknown"
    assert coverage_sentence(eligibility(plan_name=None, group_number=None), None) == (
        "Active on 12/04/2026"
    )


def test_benefit_lines_say_service_network_and_level_in_words():
    copay, deductible, coinsurance = eligibility().benefits
    assert benefit_line_text(copay) == "Office visit, in network, individual: copay $30.00"
    assert benefit_line_text(deductible) == (
        "Deductible, in network, individual, calendar year: $1,500.00, $0.00 met, $1,500.00 left"
    )
    assert benefit_line_text(coinsurance) == "Office visit, out of network: coinsurance 40%"
    blank = Benefit(service_type="UC", benefit=BenefitInfo.COPAYMENT, in_network=YesNoUnknown.YES)
    assert benefit_line_text(blank) == "Urgent care, in network: copay —"


def test_claim_status_in_words_with_carc_and_rarc_descriptions():
    sentence = claim_status_sentence(denied())
    assert sentence == (
        "Denied (F2) — CO-16: Claim/service lacks information or has submission/billing "
        f"error(s) — MA130: {rarc_text('MA130')} — M51: Missing/incomplete/invalid "
        "procedure code(s)"
    )
    paid = denied(
        category="F1",
        status_code="65",
        adjustments=(
            Adjustment(group_code=AdjustmentGroup.CONTRACTUAL, carc="45", amount=Decimal("20")),
            Adjustment(
                group_code=AdjustmentGroup.PATIENT_RESPONSIBILITY, carc="3", amount=Decimal("30")
            ),
        ),
    )
    # a paid claim's contractual write-off is not a reason to act; the copay is said
    assert claim_status_sentence(paid) == "Paid (F1) — PR-3: Co-payment amount"
    unknown = Adjustment(group_code=AdjustmentGroup.OTHER, carc="999", rarc=("N9999",))
    assert adjustment_text(unknown) == (f"OA-999: {NO_DESCRIPTION} — N9999: {NO_DESCRIPTION}")


def test_summary_keeps_codes_and_adds_words_for_json():
    shown = summary("claim_status", {"claim_number": "CLM1"}, denied().model_dump(mode="json"))
    claim = shown["claim"]
    assert claim["category"] == "F2" and claim["category_words"] == "Denied"
    assert claim["status_code"] == "85" and claim["status_code_text"].startswith("85: ")
    assert claim["amounts"]["allowed"] == "—" and claim["amounts"]["billed"] == "$135.00"
    assert claim["adjustments"][0]["codes"] == "CO-16 MA130 M51"
    assert claim["adjustments"][0]["group_text"] == "Contractual obligation"
    query = {"date_of_service": "2026-12-04", "service_type": "98"}
    shown = summary("eligibility", query, eligibility().model_dump(mode="json"))
    assert shown["coverage_text"].startswith("Active on 12/04/2026")
    names = [g["name"] for g in shown["benefit_groups"]]
    assert names == [
        "Professional (Physician) Visit - Office (98)",
        "Health Benefit Plan Coverage (30)",
    ]
    assert shown["benefit_groups"][0]["lines"][0]["codes"].startswith("EB01 B")


def test_reasons_written_with_codes_gain_their_descriptions():
    assert with_descriptions("Denied: coding (CO-97, PR-96)") == (
        f"Denied: coding (CO-97: {carc_text('97')}, PR-96: {carc_text('96')})"
    )
    assert with_descriptions("The plan requires prior authorization for service type 98") == (
        "The plan requires prior authorization for service type "
        "Professional (Physician) Visit - Office (98)"
    )
    once = with_descriptions("Denied: coding (CO-97)")
    assert with_descriptions(once) == once  # said once, not twice
    assert with_descriptions(None) == ""


def test_the_checker_finds_a_bare_code():
    assert undescribed("Denied: coding (CO-97)") == ["CO-97"]
    assert undescribed("F2 CO-16 MA130") == ["CO-16", "MA130", "F2"]
    assert undescribed("Visit (98)") == ["(98)"]  # neither its name nor its short name
    assert undescribed("Office visit (98)") == []  # the table's short name describes it
    assert undescribed(claim_status_sentence(denied())) == []


# --- both workbooks: every code shown has its description next to it ---------------------


def _outcome(id_: int, kind: str, query: dict[str, Any], payload: Any, **over: Any) -> Any:
    fields: dict[str, Any] = {
        "id": id_,
        "source_row": id_ + 1,
        "payer_id": "ACME",
        "kind": kind,
        "state": "succeeded" if payload else "business_failed",
        "attempts": 1,
        "last_error_code": None if payload else "member_not_found",
        "last_error_message": None if payload else "the portal found no match",
        "reason_code": None,
        "evidence_path": None,
        "checked_at": NOW,
        "query": query,
        "payload": payload,
    }
    fields.update(over)
    return rows_.outcome(**fields)


def _every_denial() -> ClaimStatusResult:
    """A denied claim carrying every CARC and RARC the mock portals can emit."""
    kit = portal_codes()
    adjustments = [
        Adjustment(group_code=group, carc=carc, rarc=tuple(remarks), amount=Decimal("10"))
        for carc, (group, remarks, _) in kit.DENIALS.items()
    ]
    adjustments += [
        Adjustment(group_code="CO", carc=carc, amount=Decimal("1")) for carc in kit.CARC
    ]
    adjustments.append(Adjustment(group_code="CO", carc="16", rarc=tuple(kit.RARC)))
    return denied(adjustments=tuple(adjustments))


def _written(tmp_path: Path) -> tuple[Path, Path]:
    elig_query = {
        "member_id": "ACM1",
        "dob": "1980-05-17",
        "date_of_service": "2026-12-04",
        "service_type": "98",
    }
    claim_query = {"claim_number": "CLM1"}
    kit = portal_codes()
    claims = [
        _outcome(20 + i, "claim_status", claim_query, payload.model_dump(mode="json"))
        for i, payload in enumerate(
            [
                _every_denial(),
                *(
                    denied(category=category, status_code=status, adjustments=())
                    for category, status in kit.CLAIM_STATUSES
                ),
            ]
        )
    ]
    every_service = tuple(
        Benefit(
            service_type=code,
            benefit=BenefitInfo.COPAYMENT,
            in_network=YesNoUnknown.YES,
            amount=Decimal("25"),
        )
        for code in kit.SERVICE_TYPES
    )
    elig = [
        _outcome(1, "eligibility", elig_query, eligibility().model_dump(mode="json")),
        _outcome(
            2,
            "eligibility",
            {**elig_query, "service_type": "AL"},
            eligibility(benefits=every_service).model_dump(mode="json"),
        ),
        _outcome(
            3,
            "eligibility",
            elig_query,
            eligibility(coverage_active=False, benefits=()).model_dump(mode="json"),
        ),
        _outcome(4, "eligibility", elig_query, None, reason_code="75"),
    ]
    followups = [
        rows_.followup(
            id=1,
            item_id=20,
            kind="claim_status",
            rule="claim_denied",
            reason="Denied: missing information (CO-16)",
            category="missing_information",
            priority="high",
            action="Add what the remark code (RARC) names and resubmit",
            status="open",
            assignee=None,
            notes=None,
            evidence_path=None,
            payer_id="ACME",
            patient="DOE, JANE",
            member_id="ACM1",
            claim_number="CLM1",
            service_date=date(2026, 11, 3),
            created_at=NOW,
            updated_at=NOW,
        ),
        rows_.followup(
            id=2,
            item_id=1,
            kind="eligibility",
            rule="prior_auth_required",
            reason="The plan requires prior authorization for service type 98",
            category=None,
            priority="high",
            action="Request the authorization before the visit",
            status="open",
            assignee=None,
            notes=None,
            evidence_path=None,
            payer_id="ACME",
            patient="DOE, JANE",
            member_id="ACM1",
            claim_number=None,
            service_date=date(2026, 12, 4),
            created_at=NOW,
            updated_at=NOW,
        ),
    ]
    run = write_workbook(tmp_path / "run.xlsx", {"eligibility": elig, "claim_status": claims})
    specialists = write_specialist_workbook(
        tmp_path / "specialists.xlsx",
        followups,
        [EligibilityLine(e) for e in elig],
        claims,
        [],
        now=NOW,
    ).path
    return run, specialists


RAW_CODE_COLUMNS = {
    # raw-code column: (the words column of the same row, what it must say for the code)
    "Category": ("Outcome", lambda code: f"{status_category_words(code)} ({code})"),
    "Status code": ("Status", lambda code: f"{code}: {claim_status_code_text(code)}"),
}


def test_every_code_in_both_workbooks_has_its_description_next_to_it(tmp_path):
    scanned = 0
    for path in _written(tmp_path):
        wb = load_workbook(path)
        for ws in wb.worksheets:
            header = [c.value for c in ws[1]]
            for row in ws.iter_rows(min_row=2, values_only=True):
                cells = dict(zip(header, row, strict=True))
                for title, value in cells.items():
                    if not isinstance(value, str):
                        continue
                    if title in RAW_CODE_COLUMNS and ws.title == "Claim status":
                        words, said = RAW_CODE_COLUMNS[title]
                        assert str(cells[words]).startswith(said(value)), (path.name, title)
                        scanned += 1
                    elif title == "Adjustment codes":
                        for codes in value.split("; "):
                            first, *remarks = codes.split()
                            text = str(cells["Denial reasons"])
                            assert f"{first}: {carc_text(first.split('-')[1])}" in text
                            for r in remarks:
                                assert f"{r}: {rarc_text(r)}" in text
                            scanned += 1
                    else:
                        assert undescribed(value) == [], (path.name, ws.title, title, value)
                        scanned += codes_in(value)
                        assert NO_DESCRIPTION not in value, (path.name, title, value)
    assert scanned > 100  # the scan saw the codes it is about


def test_workbook_cells_read_in_words(tmp_path):
    run, specialists = _written(tmp_path)
    wb = load_workbook(specialists)
    elig = {r[0].value: [c.value for c in r] for r in wb["Eligibility"].iter_rows(min_row=2)}
    header = [c.value for c in wb["Eligibility"][1]]
    at = {h: i for i, h in enumerate(header)}
    first = elig[1]
    assert first[at["Outcome"]] == "Active on 12/04/2026 — Acme Choice PPO, group G383822"
    assert first[at["Coverage"]] == "Active"  # the word the conditional format reads
    assert "Office visit, in network, individual: copay $30.00" in first[at["Benefits (in words)"]]
    assert first[at["Benefits (in words)"]].startswith(
        "Professional (Physician) Visit - Office (98): "
    )
    assert elig[4][at["Reason code"]] == "Subscriber/insured not found (75)"
    follow = [[c.value for c in r] for r in wb["Follow-ups"].iter_rows(min_row=2)]
    fheader = [c.value for c in wb["Follow-ups"][1]]
    by_id = {r[0]: dict(zip(fheader, r, strict=True)) for r in follow}
    assert by_id[1]["Category"] == "Missing information"
    assert by_id[1]["Reason"] == f"Denied: missing information (CO-16: {carc_text('16')})"
    claims = load_workbook(run)["Claim status"]
    cheader = [c.value for c in claims[1]]
    denial = dict(zip(cheader, [c.value for c in claims[2]], strict=True))
    assert denial["Outcome"] == "Denied (F2)" and denial["Category"] == "F2"
    assert denial["Status code"] == "85" and denial["Status"].startswith("85: ")
    assert denial["Denial reasons"].startswith(f"CO-16: {carc_text('16')}")
    assert denial["Adjustment codes"].split("; ")[0] == "CO-16 MA130 M51"


def test_the_terminal_answer_says_words_with_codes_described():
    from rich.console import Console

    from bots.outputs.report import print_lookup

    out = Console(width=400, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    claim = denied().model_dump(mode="json")
    shown = summary("claim_status", {"claim_number": "CLM1"}, claim)
    print_lookup(out, {"state": "succeeded", "result": claim, "summary": shown})
    query = {"date_of_service": "2026-12-04", "service_type": "98"}
    elig = eligibility().model_dump(mode="json")
    shown = summary("eligibility", query, elig)
    print_lookup(out, {"state": "succeeded", "result": elig, "summary": shown})
    text = out.export_text()
    assert "claim CLM1: Denied (F2) — CO-16: " in text
    assert "Active on 12/04/2026 — Acme Choice PPO, group G383822" in text
    assert "Office visit, in network, individual: copay $30.00" in text
    said = "\n".join(line.split("EB01")[0] for line in text.splitlines())  # raw-code column
    assert undescribed(said) == [] and codes_in(said) >= 4
