"""The redactor in a process that lives for weeks: a patient's values are held while they are
worked and for a day after, then forgotten (memory stays bounded by a day of lookups);
credentials are held for the life of the process; what is held is still masked everywhere
after the patterns are rebuilt."""

from __future__ import annotations

from datetime import date

from bots.engine.attempts import register_phi
from bots.logs import REDACTED, Redactor, redactor
from bots.models import EligibilityQuery


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def masked(r: Redactor, value: str) -> bool:
    return r.text(f"about {value} here") == f"about {REDACTED} here"


def test_a_patients_values_are_forgotten_a_day_after_last_seen_credentials_never() -> None:
    clock = Clock()
    r = Redactor(clock=clock)
    r.add("portal-user-7", "s3cr3t-pass")  # credentials: kept
    r.add("ZEBULONQX", "ACM100200300", date(1980, 5, 17), keep=False)
    # enough other patients to fill compiled tiers, not just the fresh one
    r.add(*[f"SYN{k:06d}" for k in range(200)], keep=False)
    assert masked(r, "ZEBULONQX") and masked(r, "05/17/1980") and masked(r, "SYN000150")

    clock.now += 20 * 3600  # the next evening: one patient is asked again, others not
    r.add("ACM100200300", keep=False)
    clock.now += 6 * 3600  # 26 h after the first registration, 6 h after the second
    r.add("LATECOMER1", keep=False)  # registering is what prunes

    assert not masked(r, "ZEBULONQX"), "a patient last seen more than a day ago is forgotten"
    assert not masked(r, "SYN000150") and not masked(r, "05/17/1980")
    assert masked(r, "ACM100200300"), "asked again within the day: still held"
    assert masked(r, "ACM-1002-00300"), "with dashes as portals print it"
    assert masked(r, "LATECOMER1")
    assert masked(r, "portal-user-7") and masked(r, "s3cr3t-pass"), "credentials never expire"
    held = len(r)
    assert held < 10, held  # the 200 forgotten patients hold nothing


def test_a_value_that_is_also_a_credential_is_kept() -> None:
    clock = Clock()
    r = Redactor(clock=clock)
    r.add("SHAREDVAL9", keep=False)
    r.add("SHAREDVAL9")  # the same text registered as a credential
    r.add("SHAREDVAL9", keep=False)  # and as a patient again: still a credential
    clock.now += 3 * 24 * 3600
    r.add("OTHERVAL12", keep=False)
    assert masked(r, "SHAREDVAL9")


def test_the_engine_registers_patients_as_expiring_values() -> None:
    redactor.clear()
    try:
        query = EligibilityQuery(
            payer_id="ACME",
            member_id="ACM555000111",
            dob=date(1979, 3, 4),
            date_of_service=date(2026, 12, 1),
        )
        register_phi(query)
        assert masked(redactor, "ACM555000111")
        redactor._forget_older_than(float("inf"))  # as if a day had passed
        assert not masked(redactor, "ACM555000111"), "registered to expire, not kept forever"
    finally:
        redactor.clear()
