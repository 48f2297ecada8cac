"""Prairie Provider Connect's pages, read: captions, header-row tables, the portal's words.

The flow (``flows/legacyportal.py``) drives the frames; this module turns what a page
shows into results. Fields are found by the caption in the cell before them, tables by
their header row, and every word the portal uses is mapped strictly: an unknown word is
a LayoutChanged, never a guess.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from playwright.async_api import Frame, Locator

from bots.codes import AdjustmentGroup, BenefitInfo, CoverageLevel, TimePeriod, YesNoUnknown
from bots.errors import ClaimNotFound, LayoutChanged, MemberNotFound, PatientMismatch
from bots.flowkit.pages import (
    birth_date,
    blank,
    date_range,
    money,
    number,
    percent,
    require,
    split_name,
    us_date,
)
from bots.flowkit.words import Words
from bots.matching import ShownClaim, check_claim, check_member, member_fits, one_candidate
from bots.models import (
    Adjustment,
    Benefit,
    ClaimStatusQuery,
    ClaimStatusResult,
    EligibilityQuery,
    EligibilityResult,
    ServiceLine,
)

SERVICES = Words(
    "service",
    {
        "Plan Level": "30",
        "Office Visit": "98",
        "Urgent Care": "UC",
        "Emergency Room": "86",
        "Hospital Inpatient": "47",
        "Mental Health Outpatient": "MH",
        "Routine Vision": "AL",
    },
)
BENEFITS = Words(
    "benefit type",
    {
        "Co-Pay": BenefitInfo.COPAYMENT,
        "Co-Ins": BenefitInfo.COINSURANCE,
        "Deductible": BenefitInfo.DEDUCTIBLE,
        "Out of Pocket": BenefitInfo.OUT_OF_POCKET,
        "Not Covered": BenefitInfo.NON_COVERED,
    },
)
PERIODS = Words(
    "time period",
    {
        "Calendar Year": TimePeriod.CALENDAR_YEAR,
        "Plan Year": TimePeriod.SERVICE_YEAR,
        "Year to Date": TimePeriod.YEAR_TO_DATE,
        "Per Visit": TimePeriod.VISIT,
        "Lifetime": TimePeriod.LIFETIME,
    },
)
NETWORKS = Words(
    "network",
    {
        "In Network": YesNoUnknown.YES,
        "Out of Network": YesNoUnknown.NO,
        "Both": YesNoUnknown.BOTH,
        "Unknown": YesNoUnknown.UNKNOWN,
    },
)
LEVELS = Words(
    "coverage level",
    {"Individual": CoverageLevel.INDIVIDUAL, "Family": CoverageLevel.FAMILY},
    blank=None,
)
AUTH = Words(
    "authorization flag",
    {"Yes": YesNoUnknown.YES, "No": YesNoUnknown.NO, "Unknown": YesNoUnknown.UNKNOWN},
)
RELATIONSHIPS = Words("relationship", {"Self": "subscriber", "Spouse": "spouse", "Child": "child"})
COVERAGE = Words(
    "coverage status", {"ACTIVE": True, "TERMINATED": False, "NOT YET EFFECTIVE": False}
)
YES_NO = Words("other coverage", {"Yes": True, "No": False})
PAYMENT = Words[Literal["CHK", "ACH"] | None](
    "payment type", {"CHECK": "CHK", "EFT": "ACH"}, blank=None
)
GROUPS = Words("group code", {g.value: g for g in AdjustmentGroup})
# The portal's claim status words -> 277 category (507) and status code (508).
STATUSES = Words(
    "claim status",
    {
        "PAID": ("F1", "65"),
        "DENIED": ("F2", "85"),
        "DENIED - PATIENT NOT ELIGIBLE": ("F2", "88"),
        "FINALIZED - NO PAYMENT": ("F4", "1"),
        "PENDED - IN PROCESS": ("P1", "20"),
        "PENDED - UNDER REVIEW": ("P2", "41"),
        "PENDED - ADDITIONAL INFO REQUESTED FROM PROVIDER": ("P3", "21"),
        "PENDED - ADDITIONAL INFO REQUESTED FROM PATIENT": ("P4", "21"),
        "ACCEPTED": ("A2", "20"),
    },
)
BENEFIT_COLUMNS = {"Service", "Type", "Network", "Level", "Copay", "Coins %"}
BENEFIT_COLUMNS |= {"Ded/OOP Total", "Met", "Remaining", "Auth Req"}
LIST_COLUMNS = {"Claim Number", "Member ID", "Dates of Service", "Billed", "Status"}
LINE_COLUMNS = {"Line", "DOS", "Proc Code", "Modifiers", "Units", "Billed", "Allowed", "Paid"}
REMARK_COLUMNS = {"Line", "Group", "CARC", "RARC", "Amount"}
_READ = """
() => {
  const text = (el) => (el ? el.innerText.trim() : '');
  const fields = [];
  for (const td of document.querySelectorAll('td')) {
    const b = td.firstElementChild;
    if (!b || td.children.length !== 1 || !['B', 'STRONG'].includes(b.tagName)) continue;
    const caption = text(td);
    const next = td.nextElementSibling;
    if (caption.endsWith(':') && next && next.tagName === 'TD')
      fields.push([caption.slice(0, -1).trim(), text(next)]);
  }
  const tables = [];
  for (const table of document.querySelectorAll('table')) {
    const rows = Array.from(table.rows);
    const head = rows.findIndex((r) => r.cells.length > 0 &&
      Array.from(r.cells).every((c) => c.classList.contains('hdr')));
    if (head < 0) continue;
    const headers = Array.from(rows[head].cells).map(text);
    const body = rows.slice(head + 1).filter((r) => r.cells.length === headers.length);
    tables.push({
      headers,
      rows: body.map((r) => Array.from(r.cells).map(text)),
      links: body.map((r) => { const a = r.querySelector('a[href]'); return a ? a.href : null; }),
    });
  }
  return {
    fields, tables,
    titles: Array.from(document.querySelectorAll('td.title')).map(text),
    errors: Array.from(document.querySelectorAll('.err')).map(text),
    buttons: Array.from(document.querySelectorAll('form input[type=submit]'))
      .map((b) => b.value.trim()),
    text: document.body ? document.body.innerText : '',
  };
}
"""


def eligibility_result(
    portal: str, content: dict[str, Any], query: EligibilityQuery
) -> EligibilityResult:
    """The eligibility page's captions and benefit table, for the patient asked about."""
    fields = captions(content)
    member_id = require(fields, "Subscriber ID")
    dob = birth_date(require(fields, "Date of Birth"))
    check_member(query, member_id, dob)
    first, last = split_name(require(fields, "Patient Name"))
    active = COVERAGE.read(require(fields, "Coverage Status"))
    benefits: list[Benefit] = []
    if active:
        benefits = [benefit(r) for r in rows_of(content, BENEFIT_COLUMNS)]
    pcp_name = require(fields, "PCP Name")
    return EligibilityResult(
        portal=portal,
        payer_id=query.payer_id,
        as_of=datetime.now(UTC),
        raw_text=content["text"],
        member_id=member_id,
        first_name=first,
        last_name=last,
        dob=dob,
        relationship=RELATIONSHIPS.read(require(fields, "Relationship")),
        date_of_service=us_date(require(fields, "Date of Service")) or query.date_of_service,
        coverage_active=active,
        plan_name=require(fields, "Plan Name") or None,
        plan_number=require(fields, "Plan Number") or None,
        network_type=require(fields, "Network Type") or None,
        group_number=require(fields, "Group Number") or None,
        group_name=require(fields, "Group Name") or None,
        effective_date=us_date(require(fields, "Effective Date")),
        termination_date=us_date(require(fields, "Termination Date"), open_ended_is_none=True),
        other_coverage=YES_NO.read(require(fields, "Other Coverage")),
        pcp_name=None if pcp_name == "None Assigned" or blank(pcp_name) else pcp_name,
        pcp_npi=None if blank(require(fields, "PCP NPI")) else fields["PCP NPI"],
        benefits=tuple(benefits),
    )


def claim_result(
    portal: str, content: dict[str, Any], query: ClaimStatusQuery
) -> ClaimStatusResult:
    """The claim detail page, for the claim and member asked about."""
    fields = captions(content)
    claim_number = require(fields, "Claim Number")
    account = require(fields, "Patient Account #")
    member_id = require(fields, "Member ID")
    dob = birth_date(require(fields, "Date of Birth"))
    dos_from, dos_to = date_range(require(fields, "Dates of Service"))
    billed = money(require(fields, "Total Billed"))
    shown = ShownClaim(
        claim_number=claim_number,
        patient_account_number=None if blank(account) else account,
        member_id=member_id,
        dob=dob,
        dos_from=dos_from,
        dos_to=dos_to,
        billed=billed,
    )
    check_claim(query, shown)
    status = require(fields, "Claim Status")
    category, code = STATUSES.read(status)
    first, last = split_name(require(fields, "Patient Name"))
    trace = require(fields, "Check/EFT #")
    return ClaimStatusResult(
        portal=portal,
        payer_id=query.payer_id,
        as_of=datetime.now(UTC),
        raw_text=content["text"],
        claim_number=claim_number,
        patient_account_number=None if blank(account) else account,
        member_id=member_id,
        first_name=first,
        last_name=last,
        dob=dob,
        dos_from=dos_from,
        dos_to=dos_to,
        category=category,
        status_code=code,
        status_text=status,
        billed=billed,
        allowed=money(require(fields, "Allowed Amount")),
        paid=money(require(fields, "Paid Amount")),
        patient_responsibility=money(require(fields, "Patient Responsibility")),
        received_date=us_date(require(fields, "Received Date")),
        adjudication_date=us_date(require(fields, "Processed Date")),
        payment_method=PAYMENT.read(require(fields, "Payment Type")),
        payment_trace_number=None if blank(trace) else trace,
        payment_date=us_date(require(fields, "Check/EFT Date")),
        service_lines=tuple(service_line(r) for r in rows_of(content, LINE_COLUMNS)),
        adjustments=tuple(adjustment(r) for r in rows_of(content, REMARK_COLUMNS)),
    )


async def frame_text(frame: Frame) -> str:
    text: str = await frame.evaluate("() => document.body ? document.body.innerText : ''")
    return text


async def page_content(frame: Frame) -> dict[str, Any]:
    content: dict[str, Any] = await frame.evaluate(_READ)
    return content


_PROBE = """
(captions) => captions.map((caption) => {
  const cells = Array.from(document.querySelectorAll('td'))
    .filter((td) => td.innerText.trim() === caption);
  const next = cells.length === 1 ? cells[0].nextElementSibling : null;
  const controls = next ? next.querySelectorAll('input, select') : [];
  if (controls.length !== 1) return null;
  const c = controls[0];
  return c.tagName === 'SELECT' ? Array.from(c.options).map((o) => o.text.trim()) : [];
})
"""


async def controls(frame: Frame, captions: list[str]) -> list[list[str] | None]:
    """For each caption, the one control in the cell after it: a select's options, [] for an
    input, None when there is no such field."""
    found: list[list[str] | None] = await frame.evaluate(_PROBE, captions)
    return found


def cell_after(frame: Frame, caption: str) -> Locator:
    return frame.locator(f"xpath=//td[normalize-space(.)='{caption}']/following-sibling::td[1]")


class NoForm(Exception):
    """The frame does not show the form asked for; ``text`` is what it shows instead."""

    def __init__(self, text: str) -> None:
        super().__init__("the frame does not show the form")
        self.text = text


# One round trip: find the form whose submit button reads ``button``, check every caption has
# one control (and a select the option wanted), set them (text boxes not named are emptied,
# as on a fresh form), then submit it from its button once this call has returned.
_FILL_SUBMIT = """
([button, values]) => {
  const named = (f) => Array.from(f.querySelectorAll('input[type=submit]'))
    .filter((b) => b.value.trim() === button);
  const forms = Array.from(document.querySelectorAll('form')).filter((f) => named(f).length === 1);
  if (forms.length !== 1) return {form: false, text: document.body ? document.body.innerText : ''};
  const form = forms[0];
  const missing = [], unoffered = [], set = [];
  for (const [caption, value] of values) {
    const cells = Array.from(form.querySelectorAll('td'))
      .filter((td) => td.innerText.trim() === caption);
    const next = cells.length === 1 ? cells[0].nextElementSibling : null;
    const found = next ? next.querySelectorAll('input, select') : [];
    if (found.length !== 1) { missing.push(caption); continue; }
    const control = found[0];
    if (control.tagName === 'SELECT') {
      const option = Array.from(control.options).find((o) => o.text.trim() === value);
      if (option) set.push([control, option.value]); else unoffered.push(caption);
    } else set.push([control, value]);
  }
  if (missing.length || unoffered.length) return {form: true, missing, unoffered};
  const given = new Set(set.map(([c]) => c));
  for (const box of form.querySelectorAll('input[type=text], input:not([type])'))
    if (!given.has(box)) set.push([box, '']);
  for (const [control, value] of set) {
    control.value = value;
    control.dispatchEvent(new Event('input', {bubbles: true}));
    control.dispatchEvent(new Event('change', {bubbles: true}));
  }
  if (set.some(([control, value]) => control.value !== value))
    return {form: true, missing: [], unoffered: [], refused: true};
  const submitter = named(form)[0];
  setTimeout(() => form.requestSubmit(submitter), 0);
  return {form: true, missing: [], unoffered: []};
}
"""


async def fill_and_submit(frame: Frame, button: str, values: dict[str, str]) -> None:
    """Fill the form submitted by ``button`` (fields known only by the caption in the cell
    before them) and submit it, in one round trip; the caller waits for the navigation.
    Raises NoForm when the frame does not show that form, LayoutChanged when the form
    lacks a caption, a select lacks the option wanted, or a field refuses its value."""
    done: dict[str, Any] = await frame.evaluate(_FILL_SUBMIT, [button, list(values.items())])
    if not done["form"]:
        raise NoForm(done["text"])
    if done["missing"]:
        raise LayoutChanged(f"the page has no field captioned {done['missing'][0]!r}")
    if done["unoffered"]:
        raise LayoutChanged(f"the {done['unoffered'][0]!r} list does not offer the value wanted")
    if done.get("refused"):
        raise LayoutChanged("a search field did not take the value set in it")


async def fill(frame: Frame, values: dict[str, str]) -> None:
    """Fill a form whose fields are known only by the caption in the cell before them
    (no labels, no ids); a select takes the option shown. Every caption is checked first."""
    found = await controls(frame, list(values))
    for (caption, value), options in zip(values.items(), found, strict=True):
        if options is None:
            raise LayoutChanged(f"the page has no field captioned {caption!r}")
        if options and value not in options:
            raise LayoutChanged(f"the {caption!r} list does not offer the value wanted")
    for (caption, value), options in zip(values.items(), found, strict=True):
        control = cell_after(frame, caption).locator("input, select")
        if options:
            await control.select_option(label=value)
        else:
            await control.fill(value)


def eligibility_refusal(content: dict[str, Any]) -> None:
    """Raise for the inquiry form's red message; return quietly on the patient pick list."""
    message = " ".join(content["errors"])
    if "No eligibility information found" in message:
        raise MemberNotFound("the portal found no eligibility for the patient (AAA 75)")
    if "date of birth does not match" in message:
        raise PatientMismatch("the date of birth does not match the member ID", reason_code="58")
    if "last name does not match" in message:
        raise PatientMismatch("the last name does not match the member ID", reason_code="73")
    if "More than one patient matches" not in message:
        raise LayoutChanged("the portal answered the inquiry with an unexpected message")


def claim_refusal(content: dict[str, Any]) -> None:
    if any("No claims found" in e for e in content["errors"]):
        raise ClaimNotFound("the portal found no claim for the search")
    raise LayoutChanged("the portal answered the claim search with an unexpected page")


def pick(rows: list[dict[str, str]], query: EligibilityQuery) -> int:
    """The one listed patient with the ID (or its subscriber part) and DOB asked for."""
    return one_candidate(
        range(len(rows)),
        lambda i: member_fits(
            query.member_id, query.dob, rows[i]["Member ID"], birth_date(rows[i]["Date of Birth"])
        ),
        not_found=PatientMismatch,
        what="patients",
    )


def captions(content: dict[str, Any]) -> dict[str, str]:
    """Caption -> value; a caption shown twice with different values is not guessed at."""
    out: dict[str, str] = {}
    for caption, value in content["fields"]:
        if out.get(caption, value) != value:
            raise LayoutChanged(f"the page shows {caption!r} twice with different values")
        out[caption] = value
    return out


def table_with(content: dict[str, Any], columns: set[str]) -> dict[str, Any]:
    found = [t for t in content["tables"] if columns <= set(t["headers"])]
    if len(found) != 1:
        raise LayoutChanged(f"the page has {len(found)} tables with columns {sorted(columns)}")
    table: dict[str, Any] = found[0]
    return table


def rows_of(content: dict[str, Any], columns: set[str]) -> list[dict[str, str]]:
    table = table_with(content, columns)
    return [dict(zip(table["headers"], row, strict=True)) for row in table["rows"]]


def benefit(rec: dict[str, str]) -> Benefit:
    kind, _, period = rec["Type"].partition(" (")
    copay, coins = rec["Copay"], rec["Coins %"]
    return Benefit(
        service_type=SERVICES.read(rec["Service"]),
        benefit=BENEFITS.read(kind),
        in_network=NETWORKS.read(rec["Network"]),
        coverage_level=LEVELS.read(rec["Level"]),
        time_period=PERIODS.read(period.rstrip(")")) if period else None,
        amount=money(copay),
        percent=percent(coins),
        total=money(rec["Ded/OOP Total"]),
        met=money(rec["Met"]),
        remaining=money(rec["Remaining"]),
        prior_auth_required=AUTH.read(rec["Auth Req"]),
    )


def listed_claim(rec: dict[str, str]) -> ShownClaim:
    """What a row of the claim search results shows, for the one claim-fits rule."""
    dos_from, dos_to = date_range(rec["Dates of Service"])
    return ShownClaim(
        claim_number=rec["Claim Number"],
        member_id=rec["Member ID"],
        dos_from=dos_from,
        dos_to=dos_to,
        billed=money(rec["Billed"]),
    )


def service_line(rec: dict[str, str]) -> ServiceLine:
    mods = tuple(m.strip() for m in rec["Modifiers"].split(",") if not blank(m))
    if not rec["Line"].isdigit():
        raise LayoutChanged("a service line has no line number")
    return ServiceLine(
        line=int(rec["Line"]),
        procedure_code=rec["Proc Code"],
        modifiers=mods,
        dos=us_date(rec["DOS"]),
        units=number(rec["Units"]),
        billed=money(rec["Billed"]),
        allowed=money(rec["Allowed"]),
        paid=money(rec["Paid"]),
    )


def adjustment(rec: dict[str, str]) -> Adjustment:
    remarks = tuple(r.strip() for r in rec["RARC"].split(",") if not blank(r))
    line = rec["Line"]
    return Adjustment(
        group_code=GROUPS.read(rec["Group"]),
        carc=rec["CARC"],
        rarc=remarks,
        amount=money(rec["Amount"]),
        line=int(line) if line.isdigit() else None,
        description=rec.get("Description") or None,
    )
