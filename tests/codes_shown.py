"""Is every code a person reads shown with its description next to it? Shared by the unit
test of both workbooks and the console's browser test (issue 20, "answers in words").

A code is next to its description when it reads as the surfaces write it:
``CO-16: <CARC description>``, ``MA130: <RARC description>``, ``65: <status description>``
(after "status"), or words before a code in parentheses: ``Denied (F2)``,
``Professional (Physician) Visit - Office (98)``, ``Subscriber/insured not found (75)``.
"""

from __future__ import annotations

import re

from bots.codes import (
    REJECT_REASONS,
    carc_text,
    claim_status_code_text,
    code_table,
    rarc_text,
    service_type_name,
    service_type_short,
    status_category_words,
)

ADJUSTMENT = re.compile(r"\b(CO|PR|OA|PI|CR)-([A-Z]?\d{1,3})\b")
RARC = re.compile(r"\b(MA\d{2,3}|M\d{1,3}|N\d{1,4})\b")
CATEGORY = re.compile(r"\b([AFPRDE]\d)\b")
IN_PARENTHESES = re.compile(r"\(([0-9A-Z]{1,3})\)")
STATUS = re.compile(r"\bstatus (\d{1,3})\b")


def words_for(code: str) -> list[str]:
    """Every description a code in parentheses may follow."""
    found = []
    if code in code_table("service_type"):
        found += [service_type_name(code), service_type_short(code)]
    if code in code_table("claim_status_category"):
        found.append(status_category_words(code))
    if code in REJECT_REASONS:
        found.append(REJECT_REASONS[code])
    return found


def undescribed(text: str) -> list[str]:
    """The codes in ``text`` shown without their description next to them (empty: all are)."""
    missing: list[str] = []
    for m in ADJUSTMENT.finditer(text):
        if not text[m.end() :].startswith(f": {carc_text(m.group(2))}"):
            missing.append(m.group(0))
    for m in RARC.finditer(text):
        if not text[m.end() :].startswith(f": {rarc_text(m.group(1))}"):
            missing.append(m.group(0))
    for m in STATUS.finditer(text):
        if not text[m.end() :].startswith(f": {claim_status_code_text(m.group(1))}"):
            missing.append(m.group(0))
    described_in_parentheses = set()
    for m in IN_PARENTHESES.finditer(text):
        before = text[: m.start()].rstrip()
        names = words_for(m.group(1))
        if names and not any(before.endswith(n) for n in names):
            missing.append(m.group(0))
        described_in_parentheses.add(m.start(1))
    for m in CATEGORY.finditer(text):  # a category code reads "Denied (F2)", never bare
        if m.start() not in described_in_parentheses and m.group(1) in code_table(
            "claim_status_category"
        ):
            missing.append(m.group(0))
    return missing


def codes_in(text: str) -> int:
    """How many codes ``text`` shows (a scan that finds none proves nothing)."""
    return sum(len(p.findall(text)) for p in (ADJUSTMENT, RARC, STATUS, IN_PARENTHESES, CATEGORY))
