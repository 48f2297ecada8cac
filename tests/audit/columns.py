"""Where the audit finds each field on a person's surface: header names, words, in one place.

Workbook columns are found by their header text, never by position. A header matches a field
when, lower-cased with hyphens read as spaces, it contains every word of ``all_of``, one of
``any_of`` (when given) and none of ``none_of`` (or equals one of ``exactly``). Renaming a column in the outputs is one edit
here. A field found in several columns (``many``) asks each expected value to appear in one
of them: e.g. the payer's member ID next to the worklist's own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Col:
    all_of: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()
    none_of: tuple[str, ...] = ()
    exactly: tuple[str, ...] = ()
    many: bool = False

    def matches(self, header: str) -> bool:
        h = norm_header(header)
        if self.exactly:
            return h in self.exactly
        return (
            all(w in h for w in self.all_of)
            and (not self.any_of or any(w in h for w in self.any_of))
            and not any(w in h for w in self.none_of)
        )


def norm_header(text: str) -> str:
    return " ".join(re.sub(r"[-_]", " ", str(text)).casefold().split())


OUT = ("out of network", "out network", "oon")
FAMILY = ("fam", "family")

# the fields of an eligibility row (run workbook "Eligibility", specialists' "Eligibility")
ELIGIBILITY_COLUMNS: dict[str, Col] = {
    "row": Col(exactly=("row", "worklist row")),
    "payer": Col(exactly=("payer",)),
    "member_id": Col(all_of=("member id",), many=True),
    "patient": Col(exactly=("patient", "patient name")),
    "dob": Col(exactly=("dob", "date of birth")),
    "date_of_service": Col(exactly=("date of service", "dos", "service date")),
    "outcome": Col(exactly=("outcome",)),
    "coverage": Col(exactly=("coverage",)),
    "plan": Col(exactly=("plan", "plan name")),
    "network": Col(exactly=("network", "network type")),
    "group": Col(exactly=("group #", "group", "group number")),
    "effective": Col(exactly=("effective", "effective date")),
    "termination": Col(exactly=("termination", "termination date")),
    "pcp": Col(exactly=("pcp",)),
    "copay_in": Col(all_of=("copay",), none_of=OUT + FAMILY),
    "coinsurance_in": Col(all_of=("coinsurance",), none_of=OUT),
    "coinsurance_out": Col(all_of=("coinsurance",), any_of=OUT),
    "deductible_in": Col(all_of=("deductible",), none_of=OUT + FAMILY),
    "oop_in": Col(all_of=("out of pocket",), none_of=OUT + FAMILY),
    "prior_auth": Col(all_of=("prior auth",)),
    "account": Col(any_of=("acct", "account"), many=True),
}

# the fields of a claim row (run workbook "Claim status", specialists' "Claim status")
CLAIM_COLUMNS: dict[str, Col] = {
    "row": Col(exactly=("row", "worklist row")),
    "payer": Col(exactly=("payer",)),
    "claim_number": Col(exactly=("claim #", "claim number", "claim")),
    "claim_number_portal": Col(exactly=("claim # (portal)",)),
    "account": Col(any_of=("acct", "account"), many=True),
    "member_id": Col(all_of=("member id",), many=True),
    "patient": Col(exactly=("patient", "patient name")),
    "dos_from": Col(exactly=("dos from", "service from")),
    "dos_to": Col(exactly=("dos to", "service to")),
    "outcome": Col(exactly=("outcome",)),
    "category": Col(exactly=("category", "status category")),
    "status_code": Col(exactly=("status code",)),
    "billed": Col(exactly=("billed",)),
    "allowed": Col(exactly=("allowed",)),
    "paid": Col(exactly=("paid",)),
    "patient_responsibility": Col(all_of=("patient resp",)),
    "adjudicated": Col(exactly=("adjudicated", "adjudication date")),
    "trace": Col(all_of=("eft",)),
    "payment_date": Col(exactly=("payment date", "paid on")),
    "denials": Col(all_of=("denial",)),
    "denial_codes": Col(exactly=("adjustment codes",)),
}

# the specialists' workbook's "Follow-ups" sheet
FOLLOWUP_COLUMNS: dict[str, Col] = {
    "id": Col(exactly=("follow up id",)),
    "reason": Col(exactly=("reason",)),
    "category": Col(exactly=("category",)),
    "payer": Col(exactly=("payer",)),
    "patient": Col(exactly=("patient", "patient name")),
    "member_id": Col(all_of=("member id",), many=True),
    "claim_number": Col(exactly=("claim #", "claim number")),
    "service_date": Col(exactly=("service date", "date of service")),
    "item": Col(exactly=("item id",)),
}

# the console lookup page's benefits table
CONSOLE_BENEFIT_COLUMNS: dict[str, Col] = {
    "benefit": Col(exactly=("benefit",)),  # the line in words
    "codes": Col(exactly=("codes",)),  # its raw X12 codes
    "prior_auth": Col(all_of=("prior auth",)),
}

REJECTED_COLUMNS: dict[str, Col] = {"row": Col(exactly=("row",))}
# The item ID of a results row (run workbook, specialists' workbook): whose row it is.
ITEM_COLUMN = Col(exactly=("item id",))

SHEETS = {"eligibility": "Eligibility", "claim_status": "Claim status"}
FOLLOWUPS_SHEET = "Follow-ups"
REJECTED_SHEET = "Rejected rows"

# What a failed row's outcome must say (any of these words, case ignored), per outcome code.
OUTCOME_WORDS: dict[str, tuple[str, ...]] = {
    "member_not_found": ("not found", "no member", "found no"),
    "claim_not_found": ("not on file", "not found", "found no"),
    "patient_mismatch": ("mismatch", "another patient", "review"),
    "ambiguous_match": ("several", "ambiguous", "more than one", "review"),
    "layout_changed": ("layout", "page changed", "pages changed", "not understood"),
    "no_coverage_on_date": ("no coverage",),
}
# A blank cell, as a person reads it: nothing there (never 0, never "No").
BLANKS = ("", "—", "-", "–")
# The prior-auth words a person reads (issue 18: tri-state everywhere).
PRIOR_AUTH_WORDS = {"Y": "Required", "N": "Not required", "U": "Unknown"}
# Network words on the console's benefits table: the X12 code or a word.
NETWORK_WORDS = {
    "Y": ("y", "in network", "in", "yes"),
    "N": ("n", "out of network", "out", "no"),
    "W": ("w", "both", "in and out of network"),
    "U": ("u", "unknown", "not stated"),
}

# Result fields each run differs in (not ground truth): left out of the comparison.
PER_RUN_FIELDS = frozenset(
    {"as_of", "evidence", "raw_text", "portal", "kind", "attachments", "status_text"}
)
