"""Logs: PHI and secrets redacted by key and by value, in our records and in libraries' records."""

from __future__ import annotations

import json
import logging
from datetime import date

import pytest

from bots import logs


@pytest.fixture
def run_log(tmp_path):
    logs.configure()
    logs.redactor.clear()
    path = logs.open_run_log(tmp_path / "run.jsonl")
    yield path
    logs.close_run_log(path)
    logs.redactor.clear()


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_by_key_and_by_value(run_log):
    logs.redactor.add("ACM12345678901", date(1980, 5, 17), "Zebulon", "s3cr3t-pass")
    log = logs.get_logger("t")
    log.info("x", member_id="anything", dob="1980-05-17", password="p", note="ok")
    log.info("seen ACM-1234567890 1 and acm12345678901 on 05/17/1980 for ZEBULON with s3cr3t-pass")
    logging.getLogger("sqlalchemy.engine").warning("params ('Zebulon', '1980-05-17')")
    text = run_log.read_text()
    for leaked in ("12345678901", "1980", "05/17", "Zebulon", "ZEBULON", "s3cr3t"):
        assert leaked not in text, leaked
    first, second, third = lines(run_log)
    assert first["member_id"] == first["dob"] == first["password"] == logs.REDACTED
    assert first["note"] == "ok"
    assert second["event"].count(logs.REDACTED) == 5
    assert third["logger"] == "sqlalchemy.engine"


def test_tracebacks_have_no_locals_and_no_phi(run_log):
    logs.redactor.add("Quillon")
    patient = "Quillon"  # a local variable holding PHI must not be rendered
    try:
        raise ValueError(f"cannot find {patient}")
    except ValueError:
        logs.get_logger("t").exception("failed")
    record = lines(run_log)[0]
    assert "Quillon" not in run_log.read_text()
    frames = record["exception"][0]["frames"]
    assert frames and all("locals" not in f for f in frames)
    assert frames[-1]["name"] == "test_tracebacks_have_no_locals_and_no_phi"  # code names survive


def test_no_handler_sees_phi(run_log, caplog):
    """pytest's own log capture stands for any handler a deployment adds."""
    logs.redactor.add("Quillon")
    logs.get_logger("t").warning("ours", note="Quillon")
    logging.getLogger("uvicorn.error").warning("theirs %s", "Quillon")
    try:
        raise RuntimeError("Quillon")
    except RuntimeError:
        logging.getLogger("apscheduler").exception("boom")
    assert len(caplog.records) == 3
    assert "Quillon" not in caplog.text
    assert "Quillon" not in run_log.read_text()


def test_short_values_are_not_registered():
    logs.redactor.clear()
    logs.redactor.add("A", "", None, "ab")
    assert logs.redactor.text("A cab ab") == "A cab ab"


def test_many_values_sharing_prefixes_are_all_found():
    redactor = logs.Redactor()
    ids = [f"ACM{n:011d}" for n in range(0, 30_000, 7)]  # thousands of IDs, long shared prefixes
    redactor.add(*ids, "ABC", "ABCD")
    probe = ids[123]
    text = f"a {probe} b {probe[:5]}-{probe[5:]} c {ids[-1].lower()} d ABCD e ABC f ACM0"
    assert redactor.text(text) == (
        f"a {logs.REDACTED} b {logs.REDACTED} c {logs.REDACTED} d {logs.REDACTED} e {logs.REDACTED} f ACM0"
    )


def test_loaded_credentials_are_masked_wherever_they_are_echoed(tmp_path, monkeypatch):
    from bots.engine.credentials import login_secrets
    from bots.settings import load_settings

    monkeypatch.setenv("PAYERBOT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PAYERBOT_CREDENTIALS__PAYERHUB__MAIN__USERNAME", "clinic.fixture")
    monkeypatch.setenv("PAYERBOT_CREDENTIALS__PAYERHUB__MAIN__PASSWORD", "Tr0ub4dor&3xyz")
    login_secrets(load_settings(), "payerhub", "main")
    echoed = 'Locator.fill: element not editable, value "Tr0ub4dor&3xyz" for clinic.fixture'
    assert (
        logs.redactor.text(echoed)
        == f'Locator.fill: element not editable, value "{logs.REDACTED}" for {logs.REDACTED}'
    )


def test_values_added_item_by_item_stay_masked_across_tiers():
    """A night registers values item by item; older and newer ones live in different
    compiled tiers, and a text matching several tiers is masked as one stretch."""
    redactor = logs.Redactor()
    ids = [f"ZQX{n:08d}" for n in range(1_000)]
    for member_id in ids:  # one item at a time, a text read after each (as a run does)
        redactor.add(member_id)
        assert redactor.text(f"x {member_id} y") == f"x {logs.REDACTED} y"
    assert len(redactor._tiers) > 1, "the values were spread over tiers"
    redactor.add("QUILLONSEN")  # an old-tier value...
    redactor.add(*[f"PAD{n:05d}" for n in range(200)])
    redactor.add("QUILLON")  # ...and a prefix of it in the fresh tier
    assert redactor.text("a quillonsen b quillon c") == f"a {logs.REDACTED} b {logs.REDACTED} c"
    assert all(redactor.text(i) == logs.REDACTED for i in ids[::97])
    redactor.add("OVERLAP", "LAPSED")  # two values overlapping in the text: nothing leaks
    assert redactor.text("OVERLAPSED") == logs.REDACTED
