"""PayerHub's JSON API: login + TOTP, lockout, sessions, search semantics, counters, admin."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from typing import Any

import pyotp
from portalkit.data import is_active
from starlette.testclient import TestClient

from .conftest import account, sign_in


def _member(dataset: dict[str, Any], key: str) -> dict[str, Any]:
    return next(m for m in dataset["members"] if m["member_key"] == key)


def _trap(dataset: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(t for t in dataset["traps"] if t["kind"] == kind)


def _elig(client: TestClient, payer: str, member_id: str, dob: str, **kw: Any) -> dict[str, Any]:
    body = {
        "payer_id": payer,
        "npi": "",
        "member_id": member_id,
        "dob": dob,
        "date_of_service": kw.pop("dos", "2026-12-01"),
        "service_type": "30",
        **kw,
    }
    r = client.post("/api/eligibility", json=body)
    assert r.status_code == 200, r.text
    return dict(r.json())


# --- login, lockout, sessions ---------------------------------------------------------------


def test_login_with_totp_counts_one_login(client: TestClient, dataset: dict[str, Any]) -> None:
    assert client.get("/api/session").status_code == 401
    answer = sign_in(client, dataset)
    assert answer["user"] == "Riverside Family Clinic (main)"
    assert "hub_session" in client.cookies
    assert client.get("/api/session").json()["user"] == answer["user"]
    counters = client.get("/__admin/counters").json()
    assert counters["logins"] == {"clinic.main": 1}
    assert counters["active_sessions"] == {"clinic.main": 1}
    assert counters["failed_logins"] == {} and counters["writes"] == 0


def test_wrong_password_and_wrong_code_are_failures(
    client: TestClient, dataset: dict[str, Any]
) -> None:
    acct = account(dataset)
    r = client.post("/api/auth/login", json={"username": acct["username"], "password": "nope"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_credentials"
    r = client.post(
        "/api/auth/login", json={"username": acct["username"], "password": acct["password"]}
    )
    challenge = r.json()["challenge"]
    wrong = "000000" if pyotp.TOTP(acct["totp_seed"]).now() != "000000" else "111111"
    r = client.post("/api/auth/mfa", json={"challenge": challenge, "code": wrong})
    assert r.status_code == 401 and r.json()["error"] == "invalid_code"
    assert client.get("/__admin/counters").json()["failed_logins"] == {"clinic.main": 2}
    r = client.post(
        "/api/auth/mfa", json={"challenge": challenge, "code": pyotp.TOTP(acct["totp_seed"]).now()}
    )
    assert r.status_code == 200  # the challenge survives one wrong code
    assert client.get("/__admin/counters").json()["logins"] == {"clinic.main": 1}


def test_lockout_at_threshold_until_admin_reset(
    make_client: Callable[..., TestClient], dataset: dict[str, Any]
) -> None:
    client = make_client(lockout_threshold=3)
    acct = account(dataset, "second")
    statuses = [
        client.post(
            "/api/auth/login", json={"username": acct["username"], "password": "wrong"}
        ).status_code
        for _ in range(3)
    ]
    assert statuses == [401, 401, 423]
    r = client.post(
        "/api/auth/login", json={"username": acct["username"], "password": acct["password"]}
    )
    assert r.status_code == 423 and r.json()["error"] == "account_locked"
    assert client.get("/__admin/counters").json()["locked"] == ["clinic.second"]
    assert client.post("/__admin/reset").json() == {"ok": True}
    sign_in(client, dataset, "second")


def test_session_idle_and_max_age(client: TestClient, dataset: dict[str, Any]) -> None:
    state = client.app.state.portal  # type: ignore[attr-defined]  # Starlette's untyped app.state
    now = [1000.0]
    state.clock = lambda: now[0]
    client.post("/__admin/knobs", json={"session_idle_seconds": 60, "session_max_seconds": 150})
    sign_in(client, dataset)
    now[0] += 50
    assert client.post("/api/auth/keepalive").status_code == 200
    now[0] += 50
    assert client.get("/api/session", headers={"X-Session-Check": "peek"}).status_code == 200
    now[0] += 20  # 70 s since the keepalive: the peek above did not count as activity
    r = client.get("/api/payers")
    assert r.status_code == 401 and r.json() == {"error": "session_expired"}
    sign_in(client, dataset)
    for _ in range(3):
        now[0] += 40
        assert client.get("/api/payers").status_code == 200
    now[0] += 35  # 155 s old although active: over session_max_seconds
    assert client.get("/api/payers").json() == {"error": "session_expired"}
    assert client.get("/__admin/counters").json()["active_sessions"] == {}


def test_real_clock_idle_expiry(
    make_client: Callable[..., TestClient], dataset: dict[str, Any]
) -> None:
    client = make_client(session_idle_seconds=0.3)
    sign_in(client, dataset)
    assert client.get("/api/payers").status_code == 200
    time.sleep(0.4)
    assert client.get("/api/payers").json() == {"error": "session_expired"}


def test_newer_login_ends_older_session(
    make_client: Callable[..., TestClient], dataset: dict[str, Any]
) -> None:
    first = make_client()
    sign_in(first, dataset)
    second = TestClient(first.app)
    sign_in(second, dataset)
    r = first.get("/api/payers")
    assert r.status_code == 401 and r.json() == {"error": "signed_in_elsewhere"}
    assert second.get("/api/payers").status_code == 200
    counters = first.get("/__admin/counters").json()
    assert counters["logins"] == {"clinic.main": 2}
    assert counters["active_sessions"] == {"clinic.main": 1}
    assert counters["max_concurrent_sessions"] == {"clinic.main": 2}
    assert second.post("/api/auth/logout").status_code == 200
    assert second.get("/api/session").status_code == 401
    second.close()


def test_api_needs_a_session(client: TestClient) -> None:
    for method, path in (
        ("GET", "/api/payers"),
        ("POST", "/api/eligibility"),
        ("POST", "/api/claims/search"),
        ("POST", "/api/auth/keepalive"),
    ):
        r = client.request(method, path, json={})
        assert r.status_code == 401 and r.json() == {"error": "not_signed_in"}


# --- eligibility ----------------------------------------------------------------------------


def test_payers_are_the_hub_payers(signed_in: TestClient) -> None:
    assert [p["payer_id"] for p in signed_in.get("/api/payers").json()] == [
        "ACME",
        "BLUESTEM",
        "CARDINAL",
    ]


def test_exact_member_id_returns_detail(signed_in: TestClient, dataset: dict[str, Any]) -> None:
    m = next(
        x
        for x in dataset["members"]
        if x["payer_id"] == "CARDINAL"
        and x["member_id"].startswith("00")
        and is_active(x, date(2026, 12, 1))
    )
    data = _elig(signed_in, "CARDINAL", m["member_id"], m["dob"], service_type="MH")
    assert data["result"] == "detail" and data["coverage_active"] is True
    assert data["member"]["member_id"] == m["member_id"]
    assert data["member"]["dob"] == m["dob"]
    assert [g["service_type"] for g in data["benefit_groups"]][:2] == ["MH", "30"]
    assert sum(len(g["benefits"]) for g in data["benefit_groups"]) == len(m["benefits"])
    assert data["as_of"].startswith("As of ") and data["as_of"].endswith(" ET")
    # spaces, dashes and case do not matter; leading zeros do
    spaced = m["member_id"][:4] + " " + m["member_id"][4:8] + "-" + m["member_id"][8:]
    assert _elig(signed_in, "CARDINAL", spaced, m["dob"])["result"] == "detail"
    assert _elig(signed_in, "CARDINAL", m["member_id"][2:], m["dob"])["result"] == "not_found"
    # only within the chosen payer
    assert _elig(signed_in, "ACME", m["member_id"], m["dob"])["result"] == "not_found"


def test_dob_mismatch_still_shows_the_member(
    signed_in: TestClient, dataset: dict[str, Any]
) -> None:
    trap = _trap(dataset, "dob_mismatch")
    data = _elig(signed_in, trap["payer_id"], trap["member_id"].lower(), trap["dob_given"])
    assert data["result"] == "detail"
    assert data["member"]["dob"] == _member(dataset, trap["member_key"])["dob"] != trap["dob_given"]


def test_subscriber_id_and_dob_resolve_one_member(
    signed_in: TestClient, dataset: dict[str, Any]
) -> None:
    trap = _trap(dataset, "subscriber_id_resolves")
    data = _elig(signed_in, trap["payer_id"], trap["subscriber_id"], trap["dob"])
    assert data["result"] == "detail"
    assert data["member"]["member_id"] == _member(dataset, trap["member_key"])["member_id"]


def test_twins_give_candidates_then_select(signed_in: TestClient, dataset: dict[str, Any]) -> None:
    trap = _trap(dataset, "twins")
    family = [
        m
        for m in dataset["members"]
        if m["payer_id"] == trap["payer_id"] and m["subscriber_id"] == trap["subscriber_id"]
    ]
    data = _elig(signed_in, trap["payer_id"], trap["subscriber_id"], trap["dob"])
    assert data["result"] == "candidates"
    assert {c["member_id"] for c in data["candidates"]} == {m["member_id"] for m in family}
    twin = _member(dataset, trap["member_keys"][1])
    token = next(c["token"] for c in data["candidates"] if c["member_id"] == twin["member_id"])
    r = signed_in.post(
        "/api/eligibility/member", json={"token": token, "date_of_service": "2026-12-01"}
    )
    assert r.json()["member"]["first_name"] == twin["first_name"]
    # a subscriber ID with a DOB nobody in the family has: candidates too
    assert (
        _elig(signed_in, trap["payer_id"], trap["subscriber_id"], "1900-01-01")["result"]
        == "candidates"
    )


def test_not_found_and_inactive(signed_in: TestClient, dataset: dict[str, Any]) -> None:
    missing = _elig(signed_in, "ACME", "ACM99999999901", "1980-01-01")
    assert missing == {
        "result": "not_found",
        "reason_code": "75",
        "reason": "Subscriber/Insured Not Found",
    }
    ended = next(
        m
        for m in dataset["members"]
        if m["payer_id"] == "BLUESTEM" and m["coverage"]["termination_date"]
    )
    data = _elig(signed_in, "BLUESTEM", ended["member_id"], ended["dob"])
    assert data["coverage_active"] is False and data["benefit_groups"] == []
    before = _elig(
        signed_in,
        "BLUESTEM",
        ended["member_id"],
        ended["dob"],
        dos=ended["coverage"]["termination_date"],
    )
    assert before["coverage_active"] is (
        ended["coverage"]["effective_date"] <= ended["coverage"]["termination_date"]
    )
    today = _elig(signed_in, "BLUESTEM", ended["member_id"], ended["dob"], dos="")
    assert today["date_of_service"] >= "2026-01-01"
    r = signed_in.post("/api/eligibility", json={"payer_id": "ACME", "member_id": "", "dob": ""})
    assert r.status_code == 400
    assert signed_in.get("/__admin/counters").json()["lookups"]["eligibility"] == 4


# --- claims ---------------------------------------------------------------------------------


def _search(client: TestClient, **body: Any) -> dict[str, Any]:
    r = client.post("/api/claims/search", json=body)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_claim_by_number_and_detail(signed_in: TestClient, dataset: dict[str, Any]) -> None:
    claim = next(
        c
        for c in dataset["claims"]
        if c["payer_id"] == "CARDINAL"
        and c["claim_number"].startswith("00")
        and c["status"]["category"] == "F2"
    )
    found = _search(
        signed_in, mode="claim", payer_id="CARDINAL", claim_number=f"  {claim['claim_number']} "
    )
    assert found["total"] == 1 and found["results"][0]["claim_number"] == claim["claim_number"]
    stripped = claim["claim_number"].lstrip("0")
    assert (
        _search(signed_in, mode="claim", payer_id="CARDINAL", claim_number=stripped)["total"] == 0
    )
    detail = signed_in.get(f"/api/claims/{found['results'][0]['id']}").json()
    for key in (
        "claim_number",
        "patient_account_number",
        "billed",
        "allowed",
        "paid",
        "patient_responsibility",
        "received_date",
        "adjudication_date",
        "payment",
        "service_lines",
        "status",
        "member_id",
        "dos_from",
        "dos_to",
    ):
        assert detail[key] == claim[key], key
    assert detail["appealable"] is True
    assert all(a["description"] for a in detail["adjustments"])
    assert signed_in.get("/api/claims/nope").status_code == 404


def test_account_number_of_a_resubmission_lists_both(
    signed_in: TestClient, dataset: dict[str, Any]
) -> None:
    trap = _trap(dataset, "duplicate_claims")
    found = _search(
        signed_in,
        mode="claim",
        payer_id=trap["payer_id"],
        claim_number=trap["patient_account_number"].lower(),
    )
    assert sorted(r["claim_number"] for r in found["results"]) == sorted(trap["claim_numbers"])


def test_not_on_file_and_wrong_payer(signed_in: TestClient, dataset: dict[str, Any]) -> None:
    missing = dataset["not_on_file_claims"]["ACME"][0]
    assert _search(signed_in, mode="claim", payer_id="ACME", claim_number=missing)["total"] == 0
    acme = next(c for c in dataset["claims"] if c["payer_id"] == "ACME")
    assert (
        _search(signed_in, mode="claim", payer_id="BLUESTEM", claim_number=acme["claim_number"])[
            "total"
        ]
        == 0
    )
    delta = next(c for c in dataset["claims"] if c["payer_id"] == "DELTA")
    assert (
        signed_in.post(
            "/api/claims/search",
            json={"mode": "claim", "payer_id": "DELTA", "claim_number": delta["claim_number"]},
        ).status_code
        == 400
    )


def test_member_mode_pages_through_a_family(signed_in: TestClient, dataset: dict[str, Any]) -> None:
    counts: dict[tuple[str, str], int] = {}
    for c in dataset["claims"]:
        m = _member(dataset, c["member_key"])
        counts[(m["payer_id"], m["subscriber_id"])] = (
            counts.get((m["payer_id"], m["subscriber_id"]), 0) + 1
        )
    (payer, sub), n = max(counts.items(), key=lambda kv: kv[1])
    assert n > 20
    body = {
        "mode": "member",
        "payer_id": payer,
        "member_id": sub,
        "dob": "",
        "dos_from": "2026-06-01",
        "dos_to": "2026-11-30",
    }
    first = _search(signed_in, **body)
    assert first["total"] == n and first["pages"] == -(-n // 10) and len(first["results"]) == 10
    last = _search(signed_in, **body, page=first["pages"])
    assert len(last["results"]) == n - 10 * (first["pages"] - 1)
    seen = {
        r["claim_number"]
        for p in range(1, first["pages"] + 1)
        for r in _search(signed_in, **body, page=p)["results"]
    }
    assert len(seen) == n
    one = _member(
        dataset,
        next(
            c["member_key"]
            for c in dataset["claims"]
            if c["payer_id"] == payer and _member(dataset, c["member_key"])["subscriber_id"] == sub
        ),
    )
    own = [c for c in dataset["claims"] if c["member_key"] == one["member_key"]]
    narrow = _search(
        signed_in,
        **{
            **body,
            "member_id": one["member_id"],
            "dos_from": own[0]["dos_from"],
            "dos_to": own[0]["dos_to"],
        },
    )
    assert own[0]["claim_number"] in {r["claim_number"] for r in narrow["results"]}
    assert all(r["dos_from"] <= own[0]["dos_to"] for r in narrow["results"])


# --- decoys, faults, admin ------------------------------------------------------------------


def test_writes_are_counted(signed_in: TestClient) -> None:
    assert signed_in.get("/api/profile").status_code == 200
    assert signed_in.get("/__admin/counters").json()["writes"] == 0
    signed_in.post("/api/appeals", json={"claim_number": "x"})
    signed_in.post("/api/profile", json={"email": "x"})
    assert signed_in.get("/__admin/counters").json()["writes"] == 2


def test_error_rate_and_latency(make_client: Callable[..., TestClient]) -> None:
    client = make_client(error_rate=1.0)
    r = client.get("/api/session")
    assert r.status_code == 500 and r.json() == {"error": "internal"}
    health = client.get("/__admin/health").json()  # admin routes never fail
    assert (health["portal"], health["ok"]) == ("payerhub", True)
    client.post("/__admin/knobs", json={"error_rate": 0, "latency_ms": 120})
    started = time.monotonic()
    assert client.get("/api/session").status_code == 401
    assert time.monotonic() - started >= 0.1
    assert client.get("/__admin/counters").json()["requests"] == 2


def test_admin_knobs_ground_truth_and_locality(client: TestClient, dataset: dict[str, Any]) -> None:
    knobs = client.get("/__admin/knobs").json()
    assert knobs["lockout_threshold"] == 5 and knobs["session_idle_seconds"] == 900
    assert client.post("/__admin/knobs", json={"bogus": 1}).status_code == 400
    assert client.post("/__admin/knobs", json={"error_rate": 2}).status_code == 400
    assert client.post("/__admin/knobs", json={"latency_ms": 5}).json()["latency_ms"] == 5
    assert client.get("/__admin/ground-truth").json() == dataset
    assert [a["account"] for a in client.get("/__admin/accounts").json()][:2] == ["main", "second"]
    outsider = TestClient(client.app, client=("10.1.2.3", 4000))
    assert outsider.get("/__admin/counters").status_code == 403
    outsider.close()


def test_spa_is_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "PayerHub" in page.text
    for name in ("app.js", "views.js", "eligibility.js", "claims.js", "app.css"):
        assert client.get(f"/static/{name}").status_code == 200
    assert "http" not in page.text.replace("http-equiv", "")  # no external assets
