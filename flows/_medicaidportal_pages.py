"""The State Medicaid portal's pages and claim detail PDF, read into results.

The flow (``flows/medicaidportal.py``) drives the pages; this module maps what they show.
The portal's words map strictly: an unknown word is a LayoutChanged, never a guess.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime
from typing import Any, Literal, NoReturn

from playwright.async_api import Page
from pypdf import PdfReader
from pypdf.errors import PyPdfError

from bots.codes import (
    CLAIM_STATUS_CATEGORIES,
    SERVICE_TYPES,
    AdjustmentGroup,
    BenefitInfo,
    CoverageLevel,
    TimePeriod,
    YesNoUnknown,
)
from bots.errors import AmbiguousMatch, LayoutChanged, NoCoverageOnDate, PatientMismatch
from bots.flowkit.pages import (
    birth_date,
    blank,
    date_range,
    money,
    number,
    require_all,
    require_headers,
    split_name,
    table_records,
    us_date,
)
from bots.flowkit.words import Words
from bots.matching import ShownClaim, check_claim, check_member, norm_member_id
from bots.models import (
    Adjustment,
    Attachment,
    Benefit,
    ClaimStatusQuery,
    ClaimStatusResult,
    EligibilityQuery,
    EligibilityResult,
    IdentityBasis,
    ServiceLine,
)

# The portal's words -> payerbot's codes.
CONFIDENTIAL = "Confidential recipient - identity withheld"
LABELS = {"member_id": ("Medicaid ID", "Recipient ID"), "dob": ("Date of Birth", "Birth Date")}
RELATIONSHIPS = Words(
    "relationship", {"Case Head": "subscriber", "Spouse": "spouse", "Child": "child"}
)
ELIGIBLE = Words("eligibility status", {"Eligible": True, "Not Eligible": False})
BENEFITS = Words(
    "benefit",
    {
        "Copay": BenefitInfo.COPAYMENT,
        "Coinsurance": BenefitInfo.COINSURANCE,
        "Deductible": BenefitInfo.DEDUCTIBLE,
        "Out-of-Pocket Maximum": BenefitInfo.OUT_OF_POCKET,
        "Not Covered": BenefitInfo.NON_COVERED,
    },
)
NETWORKS = Words(
    "network",
    {
        "Participating": YesNoUnknown.YES,
        "Non-Participating": YesNoUnknown.NO,
        "Both": YesNoUnknown.BOTH,
    },
)
LEVELS = Words(
    "coverage level",
    {"Recipient": CoverageLevel.INDIVIDUAL, "Case": CoverageLevel.FAMILY},
    blank=None,
)
PERIODS = Words(
    "benefit period",
    {
        "Calendar Year": TimePeriod.CALENDAR_YEAR,
        "Service Year": TimePeriod.SERVICE_YEAR,
        "Year To Date": TimePeriod.YEAR_TO_DATE,
        "Lifetime": TimePeriod.LIFETIME,
        "Visit": TimePeriod.VISIT,
    },
    blank=None,
)
PRIOR_AUTH = Words(
    "prior authorization",
    {"Yes": YesNoUnknown.YES, "No": YesNoUnknown.NO, "Unknown": YesNoUnknown.UNKNOWN},
)
TPL = Words("other insurance (TPL)", {"Yes": True, "No": False})
# The claim status text's first word -> the 507 category's letter.
STATUS_WORDS = Words("claim status", {"Finalized": "F", "Pending": "P", "Received": "A"})
CATEGORIES = Words("claim status category", {code: code for code in CLAIM_STATUS_CATEGORIES})
PAYMENT = Words[Literal["CHK", "ACH"] | None](
    "payment method", {"Check": "CHK", "EFT": "ACH"}, blank=None
)
SERVICE_CODES = Words("service type", {name: code for code, name in SERVICE_TYPES.items()})

# What the flow reads, by label or column: a renamed one must fail loudly, not read as blank.
# fmt: off
RECIPIENT_FIELDS = ("Recipient Name", "Case Relationship", "Dates of Service",
                    "Other Insurance (TPL)", "Primary Care Provider")
SEGMENT_COLUMNS = ("Program", "Benefit Plan", "Plan Code", "Delivery System", "Aid Category",
                   "Begin Date", "End Date", "Status")
COPAY_COLUMNS = ("Service Type", "Benefit", "Network", "Level", "Copay/Coinsurance", "PA Required")
LIMIT_COLUMNS = ("Service Type", "Benefit", "Network", "Level", "Period", "Annual Limit", "Met",
                 "Remaining", "PA Required")
CLAIM_FIELDS = ("ICN", "Patient Account #", "Claim Status", "Claim Status Category",
                "Claim Status Code", "From Date of Service", "To Date of Service", "Date Received",
                "Date Adjudicated", "Recipient Name", "Total Billed", "Total Allowed", "Total Paid",
                "Recipient Liability", "Payment Method", "Check/EFT Number", "Payment Date")
CLAIM_LIST_COLUMNS = ("ICN", "Patient Account #", "Recipient Name", "From DOS", "To DOS",
                      "Billed", "Status")
# fmt: on
PDF_LINE_HEADER = ["LN", "DOS", "PROC", "MODS", "UNITS", "BILLED", "ALLOWED", "PAID"]
PDF_ADJUSTMENT_HEADER = ["LN", "GROUP", "CARC", "RARC", "AMOUNT", "DESCRIPTION"]


# One round trip for an answer page: the heading, the text of <main>, the first alert, and
# the named region (by aria-label, as get_by_role("region") finds it) with its dt/dd fields,
# its tables (as bots.flowkit.pages.read_tables) and its text.
_ANSWER = """
(name) => {
  const text = (el) => (el ? el.innerText.trim() : '');
  const main = document.querySelector('main');
  const h1 = main && main.querySelector('h1');
  const alert = document.querySelector('[role=alert]');
  const regions = Array.from(document.querySelectorAll('section[aria-label], [role=region]'))
    .filter((el) => el.getAttribute('aria-label') === name);
  const out = {
    h1: text(h1), text: main ? main.innerText : '', alert: alert ? text(alert) : null,
    regions: regions.length, region: null,
  };
  if (regions.length !== 1) return out;
  const root = regions[0];
  const fields = {};
  for (const dt of root.querySelectorAll('dt')) {
    const dd = dt.nextElementSibling;
    if (dd && dd.tagName === 'DD') fields[text(dt)] = text(dd);
  }
  const tables = Array.from(root.querySelectorAll('table')).map((table) => {
    let heading = '';
    const caption = table.querySelector('caption');
    if (caption) heading = text(caption);
    else if (table.getAttribute('aria-label')) heading = table.getAttribute('aria-label');
    else {
      const section = table.closest('section');
      const h = section && section.querySelector('h1,h2,h3,h4');
      if (h) heading = text(h);
    }
    const headers = Array.from(table.querySelectorAll('thead th')).map(text);
    const rows = Array.from(table.querySelectorAll('tbody tr')).map((tr) =>
      Array.from(tr.querySelectorAll('td')).map(text));
    return {heading, headers, rows};
  });
  out.region = {fields, tables, text: root.innerText};
  return out;
}
"""


_SUMMARY = """
() => {
  const main = document.querySelector('main');
  const fields = {};
  for (const dt of main ? main.querySelectorAll('dt') : []) {
    const dd = dt.nextElementSibling;
    if (dd && dd.tagName === 'DD') fields[dt.innerText.trim()] = dd.innerText.trim();
  }
  return {fields, text: main ? main.innerText : ''};
}
"""


async def summary_page(page: Page) -> dict[str, Any]:
    """A summary page in one round trip: <main>'s dt/dd ``fields`` and its ``text``."""
    seen: dict[str, Any] = await page.evaluate(_SUMMARY)
    return seen


async def answer_page(page: Page, region: str) -> dict[str, Any]:
    """The page after a search, in one round trip: ``h1``, ``text`` (of <main>), ``alert``
    (the first alert's text or None), ``regions`` (how many are named ``region``) and
    ``region`` (its ``fields``, ``tables`` and ``text`` when there is exactly one)."""
    seen: dict[str, Any] = await page.evaluate(_ANSWER, region)
    return seen


# One round trip to fill a search form: the form holding the button, each field found by
# its label's exact text (one of a field's names; exactly one label), plain fields set,
# masked date fields only reported ("same" when they show the date wanted already, "typed"
# when they hold other digits to delete first, "blank"). Nothing is set when a field is
# missing or the form is not there.
_FILL = """
([button, fields]) => {
  const forms = Array.from(document.querySelectorAll('form')).filter((f) =>
    Array.from(f.querySelectorAll('button')).filter((b) => b.innerText.trim() === button)
      .length === 1);
  if (forms.length !== 1) return {form: false};
  const form = forms[0];
  const found = [], missing = [];
  for (const [key, names, value, masked] of fields) {
    const labels = Array.from(form.querySelectorAll('label'))
      .filter((l) => names.includes(l.innerText.trim()));
    const control = labels.length === 1 ? labels[0].control : null;
    if (!control) { missing.push(key); continue; }
    found.push([key, labels[0].innerText.trim(), control, value, masked]);
  }
  if (missing.length) return {form: true, missing};
  const masks = [];
  for (const [key, name, control, value, masked] of found) {
    if (masked) {
      const digits = control.value.replace(/\\D/g, '');
      masks.push([name, control.value === value ? 'same' : digits ? 'typed' : 'blank']);
    } else if (control.value !== value) {
      control.value = value;
      control.dispatchEvent(new Event('input', {bubbles: true}));
      control.dispatchEvent(new Event('change', {bubbles: true}));
    }
  }
  return {form: true, missing: [], masks};
}
"""

# Submit the form (from its button) once every field shows what the search asks for;
# otherwise leave it unsent and say which field differs.
_SUBMIT = """
([button, fields]) => {
  const form = Array.from(document.querySelectorAll('form')).find((f) =>
    Array.from(f.querySelectorAll('button')).some((b) => b.innerText.trim() === button));
  if (!form) return 'form';
  for (const [key, names, value] of fields) {
    const label = Array.from(form.querySelectorAll('label'))
      .find((l) => names.includes(l.innerText.trim()));
    if (!label || !label.control || label.control.value !== value) return key;
  }
  const submitter = Array.from(form.querySelectorAll('button'))
    .find((b) => b.innerText.trim() === button);
  setTimeout(() => form.requestSubmit(submitter), 0);
  return '';
}
"""

# Focus the masked field labelled ``name`` (its label's exact text) in the form the button
# submits, for the keyboard to type into; false when there is no such field or it cannot
# take the focus (disabled, hidden).
_FOCUS = """
([button, name]) => {
  const form = Array.from(document.querySelectorAll('form')).find((f) =>
    Array.from(f.querySelectorAll('button')).some((b) => b.innerText.trim() === button));
  const labels = form ? Array.from(form.querySelectorAll('label'))
    .filter((l) => l.innerText.trim() === name) : [];
  const control = labels.length === 1 ? labels[0].control : null;
  if (!control) return false;
  control.focus();
  return document.activeElement === control;
}
"""

SearchField = tuple[str, tuple[str, ...], str, bool]
"""A search form field: a key for messages, its label(s), the value wanted, masked or not."""


async def fill_search(page: Page, button: str, fields: list[SearchField]) -> dict[str, Any]:
    """Fill the plain fields of the form ``button`` submits; report its masked ones (see
    ``_FILL``). ``{"form": False}`` when the page does not show that form."""
    done: dict[str, Any] = await page.evaluate(_FILL, [button, fields])
    if done["form"] and done["missing"]:
        key = done["missing"][0]
        raise LayoutChanged(f"the search form has no field for {key}")
    return done


async def type_masked(
    page: Page, button: str, fields: list[SearchField], masks: list[list[str]]
) -> None:
    """Type the masked dates the form does not show yet (``masks`` as ``fill_search``
    reports them), key by key as a person would: the mask refuses a value set at once.
    Each field is focused in the page (one round trip, no locator's actionability checks:
    a locator's press costs several times the keyboard's, docs/profile.md), cleared with
    Delete, the mask's own key, when it holds other digits, then its digits typed. Nothing
    is trusted: ``submit_search`` sends the form only when every field shows its value."""
    masked = [f for f in fields if f[3]]
    for (name, state), (key, _names, value, _masked) in zip(masks, masked, strict=True):
        if state == "same":
            continue
        if not await page.evaluate(_FOCUS, [button, name]):
            raise LayoutChanged(f"the search form's field for {key} cannot be typed into")
        if state == "typed":
            await page.keyboard.press("Delete")
        await page.keyboard.type(value.replace("/", ""))


async def submit_search(page: Page, button: str, fields: list[SearchField]) -> None:
    """Submit the form when every field shows its value (the caller awaits the navigation)."""
    wrong: str = await page.evaluate(_SUBMIT, [button, fields])
    if wrong == "form":
        raise LayoutChanged("the search form went away before it was sent")
    if wrong:
        raise LayoutChanged(f"the {wrong} field did not take the value put in it")


def eligibility_answer(
    portal: str, region: dict[str, Any], query: EligibilityQuery
) -> EligibilityResult:
    """The Eligibility Results region read in one round trip (``answer_page``): its
    ``fields`` (dt/dd), ``tables`` and ``text``, for the recipient asked about."""
    fields: dict[str, str] = region["fields"]
    basis = IdentityBasis.SHOWN
    member_id: str | None = None
    dob: date | None = None
    first: str | None = None
    last: str | None = None
    if fields.get("Recipient") == CONFIDENTIAL:
        # A confidential recipient's answer shows no identity. The portal finds one only
        # by an exact Medicaid ID + date of birth search, and this page means it found
        # exactly one (several are an alert): that is how the identity was established.
        if any(x in fields for x in ("Recipient Name", *LABELS["member_id"], *LABELS["dob"])):
            raise LayoutChanged("a confidential recipient's answer shows an identity")
        require_all(fields, RECIPIENT_FIELDS[1:], "recipient information")
        basis = IdentityBasis.SEARCH_UNIQUE
    else:
        require_fields(fields, RECIPIENT_FIELDS, "recipient information")
        member_id, dob = either(fields, "member_id"), birth_date(either(fields, "dob"))
        check_member(query, member_id, dob)
        first, last = split_name(fields["Recipient Name"])
    relationship = RELATIONSHIPS.read(fields["Case Relationship"])
    dos = date_range(fields["Dates of Service"])[0]
    tables = {t["heading"]: t for t in region["tables"]}
    segment = segment_for(records(tables, "Coverage Segments", SEGMENT_COLUMNS), dos)
    active = ELIGIBLE.read(segment["Status"])
    benefits: list[Benefit] = []
    if active:
        for caption, columns in (
            ("Copays and Coinsurance", COPAY_COLUMNS),
            ("Deductible and Out-of-Pocket", LIMIT_COLUMNS),
        ):
            benefits += [benefit(r) for r in records(tables, caption, columns)]
    pcp_name, pcp_npi = pcp(fields["Primary Care Provider"])
    return EligibilityResult(
        portal=portal,
        payer_id=query.payer_id,
        as_of=datetime.now(UTC),
        raw_text=region["text"],
        identity_basis=basis,
        member_id=member_id,
        first_name=first,
        last_name=last,
        dob=dob,
        relationship=relationship,
        date_of_service=dos,
        coverage_active=active,
        plan_name=segment["Benefit Plan"],
        plan_number=segment["Plan Code"],
        network_type=segment["Delivery System"],
        group_number=segment["Aid Category"],
        group_name=segment["Program"],
        effective_date=us_date(segment["Begin Date"]),
        termination_date=us_date(segment["End Date"], open_ended_is_none=True),
        other_coverage=TPL.read(fields["Other Insurance (TPL)"]),
        pcp_name=pcp_name,
        pcp_npi=pcp_npi,
        benefits=tuple(benefits),
    )


def check_claim_summary(fields: dict[str, str], query: ClaimStatusQuery) -> None:
    """The Claim Summary is about the claim and recipient asked for, in words the flow knows."""
    require_fields(fields, CLAIM_FIELDS, "claim summary")
    account = fields["Patient Account #"]
    shown = ShownClaim(
        claim_number=fields["ICN"],
        patient_account_number=None if blank(account) else account,
        member_id=either(fields, "member_id"),
        dob=birth_date(either(fields, "dob")),
        dos_from=as_date(fields["From Date of Service"]),
        dos_to=as_date(fields["To Date of Service"]),
        billed=money(fields["Total Billed"]),
    )
    check_claim(query, shown)
    category = CATEGORIES.read(fields["Claim Status Category"])
    first_word = fields["Claim Status"].partition(" - ")[0]
    if STATUS_WORDS.read(first_word) != category[:1]:
        raise LayoutChanged("the claim status and its category disagree")


def claim_result(
    portal: str, query: ClaimStatusQuery, fields: dict[str, str], summary: str, pdf: bytes
) -> ClaimStatusResult:
    """The Claim Summary's fields (``check_claim_summary`` first) and the detail PDF's lines."""
    icn, member_id = fields["ICN"], either(fields, "member_id")
    dob = birth_date(either(fields, "dob"))
    pdf_text = _pdf_text(pdf)
    lines, adjustments = _parse_claim_pdf(pdf_text, icn, member_id)
    first, last = split_name(fields["Recipient Name"])
    account = fields["Patient Account #"]
    trace = fields["Check/EFT Number"]
    return ClaimStatusResult(
        portal=portal,
        payer_id=query.payer_id,
        as_of=datetime.now(UTC),
        raw_text=f"{summary}\n\n{pdf_text}",
        attachments=(
            Attachment(filename="claim-detail.pdf", media_type="application/pdf", content=pdf),
        ),
        claim_number=icn,
        patient_account_number=None if blank(account) else account,
        member_id=member_id,
        first_name=first,
        last_name=last,
        dob=dob,
        dos_from=as_date(fields["From Date of Service"]),
        dos_to=as_date(fields["To Date of Service"]),
        category=fields["Claim Status Category"],
        status_code=None if blank(fields["Claim Status Code"]) else fields["Claim Status Code"],
        status_text=fields["Claim Status"],
        billed=money(fields["Total Billed"]),
        allowed=money(fields["Total Allowed"]),
        paid=money(fields["Total Paid"]),
        patient_responsibility=money(fields["Recipient Liability"]),
        received_date=us_date(fields["Date Received"]),
        adjudication_date=us_date(fields["Date Adjudicated"]),
        payment_method=PAYMENT.read(fields["Payment Method"]),
        payment_trace_number=None if blank(trace) else trace,
        payment_date=us_date(fields["Payment Date"]),
        service_lines=lines,
        adjustments=adjustments,
    )


def require_fields(fields: dict[str, str], labels: tuple[str, ...], where: str) -> None:
    require_all(fields, labels, where)
    if not all(any(x in fields for x in LABELS[k]) for k in LABELS):
        raise LayoutChanged(f"the {where} lacks the recipient's ID or date of birth")


def either(fields: dict[str, str], key: str) -> str:
    return next(fields[x] for x in LABELS[key] if x in fields)


def records(
    tables: dict[str, dict[str, Any]], caption: str, columns: tuple[str, ...]
) -> list[dict[str, str]]:
    if caption not in tables:
        raise LayoutChanged(f"the page has no {caption!r} table")
    require_headers(tables[caption], columns)
    return table_records(tables[caption])


def unknown(what: str) -> NoReturn:
    raise LayoutChanged(f"the portal shows a {what} the flow does not know")


def as_date(text: str) -> date:
    value = us_date(text)
    if value is None:
        raise LayoutChanged("a date the flow needs is blank")
    return value


def segment_for(segments: list[dict[str, str]], dos: date) -> dict[str, str]:
    """The one coverage segment spanning the date of service. None does: no answer is read
    off another segment (the latest one would read an uncovered date as covered)."""
    if not segments:
        raise LayoutChanged("the eligibility page shows no coverage segment")
    spans = [(s, as_date(s["Begin Date"]), us_date(s["End Date"])) for s in segments]
    covering = [s for s, begin, end in spans if begin <= dos and (end is None or dos <= end)]
    if len(covering) > 1:
        raise AmbiguousMatch("several coverage segments span the date of service")
    if not covering:
        raise NoCoverageOnDate("no coverage segment covers the date of service")
    return covering[0]


def pcp(text: str) -> tuple[str | None, str | None]:
    if blank(text) or text.strip() == "None assigned":
        return None, None
    found = re.fullmatch(r"(.+) \(NPI (\d{10})\)", text.strip())
    if not found:
        unknown("primary care provider format")
    return found.group(1), found.group(2)


def benefit(rec: dict[str, str]) -> Benefit:
    share = rec.get("Copay/Coinsurance", "")
    period = rec.get("Period", "")
    return Benefit(
        service_type=SERVICE_CODES.read(rec["Service Type"]),
        benefit=BENEFITS.read(rec["Benefit"]),
        in_network=NETWORKS.read(rec["Network"]),
        coverage_level=LEVELS.read(rec["Level"]),
        time_period=PERIODS.read(period),
        amount=None if "%" in share else money(share),
        percent=number(share) if "%" in share else None,
        total=money(rec.get("Annual Limit")),
        met=money(rec.get("Met")),
        remaining=money(rec.get("Remaining")),
        prior_auth_required=PRIOR_AUTH.read(rec["PA Required"]),
    )


def listed_claim(rec: dict[str, str]) -> ShownClaim:
    """What a row of the claims list shows, for the one claim-fits rule."""
    account = rec["Patient Account #"]
    return ShownClaim(
        claim_number=rec["ICN"],
        patient_account_number=None if blank(account) else account,
        dos_from=us_date(rec["From DOS"]),
        dos_to=us_date(rec["To DOS"]),
        billed=money(rec["Billed"]),
    )


def _pdf_text(content: bytes) -> str:
    if not content.startswith(b"%PDF"):
        raise LayoutChanged("the claim detail download is not a PDF")
    try:
        return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(content)).pages)
    except PyPdfError:
        raise LayoutChanged("the claim detail PDF cannot be read") from None


def _parse_claim_pdf(
    text: str, icn: str, member_id: str
) -> tuple[tuple[ServiceLine, ...], tuple[Adjustment, ...]]:
    """Service lines and adjustments from the claim detail report, after checking that the
    report is about the claim and recipient on screen."""
    rows = [" ".join(x.split()) for x in text.splitlines() if x.strip()]
    heads = {r.partition(": ")[0]: r.partition(": ")[2] for r in rows if ": " in r}
    if heads.get("ICN") != icn or norm_member_id(heads.get("Medicaid ID")) != norm_member_id(
        member_id
    ):
        raise PatientMismatch("the claim detail PDF is not about the claim on screen")
    try:
        lines_at, adjustments_at = rows.index("SERVICE LINES"), rows.index("ADJUSTMENTS")
        end = rows.index("END OF CLAIM DETAIL")
    except ValueError:
        raise LayoutChanged("the claim detail PDF lacks a section the flow reads") from None
    if (
        rows[lines_at + 1].split() != PDF_LINE_HEADER
        or rows[adjustments_at + 1].split() != PDF_ADJUSTMENT_HEADER
    ):
        raise LayoutChanged("the claim detail PDF's columns changed")
    lines = tuple(_pdf_line(r.split()) for r in rows[lines_at + 2 : adjustments_at])
    adjustments = tuple(
        _pdf_adjustment(r.split(" ", 5))
        for r in rows[adjustments_at + 2 : end]
        if r != "No adjustments."
    )
    return lines, adjustments


def _pdf_line(cells: list[str]) -> ServiceLine:
    if len(cells) != len(PDF_LINE_HEADER) or not cells[0].isdigit():
        raise LayoutChanged("a service line in the claim detail PDF has an unknown shape")
    ln, dos, proc, mods, units, billed, allowed, paid = cells
    return ServiceLine(
        line=int(ln),
        procedure_code=proc,
        modifiers=() if blank(mods) else tuple(mods.split(",")),
        dos=us_date(dos),
        units=number(units),
        billed=money(billed),
        allowed=money(allowed),
        paid=money(paid),
    )


def _pdf_adjustment(cells: list[str]) -> Adjustment:
    if (
        len(cells) < 5
        or cells[1] not in {g.value for g in AdjustmentGroup}
        or not (cells[0].isdigit() or blank(cells[0]))
    ):
        raise LayoutChanged("an adjustment in the claim detail PDF has an unknown shape")
    ln, group, carc, rarc, amount = cells[:5]
    return Adjustment(
        group_code=AdjustmentGroup(group),
        carc=carc,
        rarc=() if blank(rarc) else tuple(rarc.split(",")),
        amount=money(amount),
        line=None if blank(ln) else int(ln),
        description=cells[5] if len(cells) > 5 else None,
    )
