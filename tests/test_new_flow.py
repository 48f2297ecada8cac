"""`payerbot new-flow`, end to end, against the extra mock portal Cobalt Health (fixtures/
cobaltportal: sign-in inside an iframe with a one-time code, a practice picker and a notice
modal after it, date of birth as month/day/year with the month a <select> inside its label,
a CSRF token that rotates on every page, `/` always the sign-in shell).

The scaffold is run into a copy of the project; its TODOs are replaced with prepared bodies,
as a developer would write them after `payerbot explore`; the generated test module then runs
in a subprocess, as the developer would run it. It fails while lookups are still TODOs; once
they are filled it passes the landmarks, both lookups, the kept-session resume and the sign-out
(the portal counts one login per test, none for the resumed session); it skips with the reason
where no test login is set; and the generated error-page table turns Cobalt's maintenance page
into PortalMaintenance.
One portal start; one browser per run of the generated module.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bots.ops import mock_portals as fixture_portals
from bots.settings import ROOT, load_settings
from tests.timing import scaled

pytestmark = pytest.mark.browser

ENV = "PAYERBOT_TEST_COBALT"
PRACTICE = "Eastside Family Medicine"
GENERATED_TESTS = {
    "test_the_pages_have_the_landmarks_the_flow_relies_on",
    "test_a_known_member_is_read_and_an_unknown_one_is_not_found",
    "test_a_known_claim_is_read_and_an_unknown_one_is_not_found",
    "test_a_kept_session_resumes_without_a_new_login",
    "test_logout_ends_the_session",
}


@pytest.fixture(scope="module")
def cobalt() -> Iterator[str]:
    """The Cobalt mock portal on a free port (it is not one of the configured portals)."""
    started = fixture_portals.start(load_settings(), {"cobaltportal": 0})
    try:
        yield started.urls["cobaltportal"]
    finally:
        started.stop()


def admin(url: str, method: str, path: str, **kw: Any) -> Any:
    response = httpx.request(method, f"{url}/__admin/{path}", timeout=30, **kw)
    response.raise_for_status()
    return response.json()


# --- what the developer writes in place of the TODOs (after `payerbot explore`) ------------

# (what the scaffold wrote, what the developer writes instead): each must be there once.
SETTINGS_FILLED = [
    (
        "TODO: one line on the portal (a single-page app or server-rendered forms? frames? MFA? a\n"
        "location picker after sign-in? rate limits?).",
        "Server-rendered forms; sign-in inside an iframe with a one-time code; a practice picker\n"
        "and a notice after sign-in; a CSRF token that rotates on every page.",
    ),
    ('"""TODO: what this flow can do on the portal."""', '"""Eligibility and claim status."""'),
    (
        "from datetime import UTC",
        "from collections.abc import Awaitable, Callable\nfrom datetime import UTC",
    ),
    ("    AuthenticationError,\n", "    AuthenticationError,\n    CapabilityMissing,\n"),
    ('SIGN_OUT_PATH = "/logout"', 'SIGN_OUT_PATH = "/signout"'),
    ("SIGN_IN_FRAME: str | None = None", 'SIGN_IN_FRAME: str | None = "signin"'),
    (
        'ELIGIBILITY_LANDMARKS = landmarks("label:Member ID", "button:Search")',
        'ELIGIBILITY_LANDMARKS = landmarks(\n    "heading:Eligibility", "label:Member ID", '
        '"label:Day", "label:Year", "button:Check eligibility"\n)',
    ),
    (
        'CLAIM_LANDMARKS = landmarks("label:Claim number", "button:Search")',
        'CLAIM_LANDMARKS = landmarks(\n    "heading:Claim status", "label:Claim number", '
        '"label:Member ID", "button:Check claim"\n)',
    ),
    (
        'ELIGIBILITY_FIELDS = ("Member name", "Member ID", "Date of birth", "Coverage status")',
        'ELIGIBILITY_FIELDS = ("Member", "Member ID", "Date of birth", "Coverage", "Plan")',
    ),
    (
        'COVERAGE = Words("coverage status", {"Active": True, "Inactive": False})',
        'COVERAGE = Words("coverage", {"Active": True, "Terminated": False})',
    ),
    (
        'CLAIM_STATUS = Words("claim status", {"Paid": "F1", "Denied": "F2", "Pending": "P1"})',
        'CLAIM_STATUS = Words("claim status", {"Paid": "F1", "Denied": "F2", "In process": "P1"})',
    ),
    (
        'signed_out=Marker("session has expired", "signed out")',
        'signed_out=Marker("session has ended")',
    ),
    ("    practice: str | None = None", "    practice: str"),
    (
        'Send("POST", "/login"),',
        'Send("POST", "/signin"),\n        Send("POST", "/signin/verify"),\n'
        '        Send("POST", "/practice"),',
    ),
    (
        'write_pages = ("/profile", "/change-password")',
        'write_pages = ("/profile", "/claims/appeal")',
    ),
    ('require(fields, "Member name")', 'require(fields, "Member")'),
    ('require(fields, "Coverage status")', 'require(fields, "Coverage")'),
    (
        "            # TODO(fields): check number and date, adjustments (CARC/RARC), service lines\n",
        '            payment_date=us_date(fields.get("Check date")),\n',
    ),
    (
        "        # TODO(login): what comes after sign-in: a practice/location picker (pick\n"
        "        # self.options.practice), terms, a notice or modal (close it; never act on one),\n"
        '        # "password expires in N days" (return LoginInfo(password_expires_in_days=N)).\n'
        "        return None\n",
        """        # The practice location the options name, then a notice over the first page.
        practices = page.get_by_label("Practice location", exact=True)
        if self.options.practice not in await practices.locator("option").all_inner_texts():
            raise LayoutChanged("the practice list does not offer the practice in the options")
        await practices.select_option(label=self.options.practice)
        async with page.expect_navigation() as picked:
            await page.get_by_role("button", name="Continue", exact=True).click()
        await raise_for_page(ERROR_PAGES, page, await picked.value)
        notice = page.get_by_role("dialog", name="Important notice")
        if await notice.count():
            await notice.get_by_role("button", name="Close", exact=True).click()
        return None
""",
    ),
]

LOOKUPS_FILLED = [
    (
        '        raise NotImplementedError("TODO(eligibility)")\n',
        '''        async def fill() -> None:
            await page.get_by_label("Member ID", exact=True).fill(query.member_id)
            month = page.get_by_role("combobox", name="Month", exact=True)  # inside its label
            await month.select_option(f"{query.dob.month:02d}")
            await page.get_by_label("Day", exact=True).fill(str(query.dob.day))
            await page.get_by_label("Year", exact=True).fill(str(query.dob.year))

        found = await self._ask(
            page, ELIGIBILITY_PATH, fill, "Check eligibility", "Eligibility result", "No member"
        )
        if found is None:
            raise MemberNotFound("the portal found no member with this ID and date of birth")
        return self._eligibility_result(query, *found)

    async def _ask(
        self,
        page: Page,
        path: str,
        fill: Callable[[], Awaitable[None]],
        button: str,
        answer: str,
        none: str,
    ) -> tuple[dict[str, str], str] | None:
        """Fill the form on screen (opened only when the page is elsewhere), submit it, and
        read the page its own POST brought: the answer's fields and text, or None for the
        portal's "no match". Every page renders a new CSRF token: a form that expired (a
        page of the session was opened since) is opened afresh and sent once more."""
        url = f"{self.base_url}{path}"
        for attempt in range(2):
            if attempt or page.url != url:
                await self._open(page, path)
            await fill()
            async with page.expect_navigation() as answered:
                await page.get_by_role("button", name=button, exact=True).click()
            response = await answered.value
            if not posted_to(response, url):
                raise LayoutChanged("the portal answered with a page from elsewhere")
            expired = page.get_by_role("alert").filter(has_text="This page expired")
            if response is None or response.status != 403 or not await expired.count():
                break
        await raise_for_page(ERROR_PAGES, page, response)
        if await page.get_by_role("region", name=answer, exact=True).count():
            region = await read_region(page, f"section[aria-label='{answer}']")
            return region.fields, region.text
        if await page.get_by_role("status").filter(has_text=none).count():
            return None
        raise LayoutChanged("the portal showed neither an answer nor a message")
''',
    ),
    (
        '        raise NotImplementedError("TODO(claim_status)")\n',
        """        claim_number, member_id = query.claim_number, query.member_id
        if not (claim_number and member_id):
            raise CapabilityMissing("Cobalt finds a claim by its number and the member ID only")

        async def fill() -> None:
            await page.get_by_label("Claim number", exact=True).fill(claim_number)
            await page.get_by_label("Member ID", exact=True).fill(member_id)

        found = await self._ask(page, CLAIMS_PATH, fill, "Check claim", "Claim result", "No claim")
        if found is None:
            raise ClaimNotFound("the portal found no claim with this number for this member")
        return self._claim_result(query, *found)
""",
    ),
]


def fill(text: str, replacements: list[tuple[str, str]]) -> str:
    for old, new in replacements:
        assert text.count(old) == 1, f"the scaffold no longer writes {old[:60]!r}"
        text = text.replace(old, new)
    return text


def drop_todo_notes(text: str) -> str:
    """What the developer does last: delete the TODO notes (comment blocks and trailers)."""
    out: list[str] = []
    in_note = False
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith("# TODO"):
            in_note = True
            continue
        if in_note and stripped.startswith("#"):
            continue
        in_note = False
        out.append(re.sub(r"\s+# (noqa: F401  \()?TODO.*$", "", line.rstrip("\n")) + "\n")
    return "".join(out)


def run(args: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT, timeout: float = 60):
    return subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=scaled(timeout),
        check=False,
        cwd=cwd,
        env=env,
    )


def junit(path: Path) -> dict[str, tuple[str, str]]:
    """{test name: (outcome, message)} from pytest's junit report."""
    outcomes = {}
    for case in ET.parse(path).getroot().iter("testcase"):  # noqa: S314 - our own report
        outcome, message = "passed", ""
        for kind in ("failure", "error", "skipped"):
            found = case.find(kind)
            if found is not None:
                outcome, message = kind, (found.get("message") or "") + (found.text or "")
        outcomes[case.get("name", "")] = (outcome, message)
    return outcomes


def test_a_scaffolded_flow_passes_its_generated_tests_once_its_todos_are_filled(
    cobalt: str, tmp_path: Path
) -> None:
    root = tmp_path / "project"
    shutil.copytree(ROOT / "config", root / "config")  # the scaffold appends to a copy
    shutil.copy(ROOT / "pyproject.toml", root)  # pytest's markers and timeouts, ruff's rules
    made = run(
        [
            sys.executable,
            "-m",
            "bots",
            "new-flow",
            "cobalt",
            "--root",
            str(root),
            "--base-url",
            cobalt,
            "--title",
            "Cobalt Health Provider Access",
        ]
    )
    assert made.returncode == 0, made.stderr[-2000:]
    assert "payerbot explore" in made.stdout and "codegen" not in made.stdout
    flow = root / "flows" / "cobalt.py"
    test = root / "tests" / "flows" / "test_cobalt.py"
    config = root / "config" / "portals.toml"
    assert (
        "[portals.cobalt]" in config.read_text()
        and "[portals.cobalt.options]" in config.read_text()
    )
    for todo in (
        "login",
        "resume",
        "landmarks",
        "identity",
        "words",
        "sends",
        "eligibility",
        "claim_status",
        "options",
    ):
        assert f"TODO({todo})" in flow.read_text(), todo
    again = run([sys.executable, "-m", "bots", "new-flow", "cobalt", "--root", str(root)])
    assert again.returncode != 0 and "not overwritten" in again.stdout + again.stderr
    # As written, the scaffold is lint-clean (the repository's ruff rules).
    ruff = [sys.executable, "-m", "ruff", "check", "--config", str(ROOT / "pyproject.toml")]
    ruff += ["--config", "lint.isort.known-first-party=['bots','flows']"]
    linted = run([*ruff, str(flow), str(test)])
    assert linted.returncode == 0, linted.stdout[-3000:]

    accounts = admin(cobalt, "GET", "accounts")
    login = next(a for a in accounts if a["account"] == "main")
    truth = admin(cobalt, "GET", "ground-truth")
    east = next(p["code"] for p in truth["practices"] if p["name"] == PRACTICE)
    member = next(
        m for m in truth["members"] if m["practice"] == east and m["coverage"] == "Active"
    )
    claim = next(c for c in truth["claims"] if c["practice"] == east and c["status"] == "Paid")
    known = {
        "PAYER_ID": "COBALT",
        "MEMBER_ID": member["member_id"],
        "MEMBER_DOB": member["dob"],
        "MEMBER_LAST_NAME": member["last_name"].upper(),
        "MEMBER_ACTIVE": "true",
        "UNKNOWN_MEMBER_ID": "CBH000000000",
        "CLAIM_NUMBER": claim["claim_number"],
        "CLAIM_MEMBER_ID": claim["member_id"],
        "CLAIM_PAID": claim["paid"],
        "UNKNOWN_CLAIM_NUMBER": "CB2600000000",
    }
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith((ENV, "PAYERBOT_PORTALS__", "PYTEST_"))
    }
    base |= {
        "PYTHONPATH": f"{root}{os.pathsep}{ROOT}",
        "PAYERBOT_CONFIG_DIR": str(root / "config"),
        "PAYERBOT_DATA_DIR": str(tmp_path / "var"),
    }
    env = base | {f"{ENV}_{key}": value for key, value in known.items()}
    env |= {
        f"{ENV}_USERNAME": login["username"],
        f"{ENV}_PASSWORD": login["password"],
        f"{ENV}_TOTP_SEED": login["totp_seed"],
    }

    def generated(run_env: dict[str, str], *select: str) -> tuple[Any, dict[str, tuple[str, str]]]:
        report = tmp_path / "report.xml"
        done = run(
            [
                *(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"),
                *(f"--junitxml={report}", str(test), *select),
            ],
            env=run_env,
            cwd=root,
            timeout=240,
        )
        return done, junit(report)

    # The options table: the practice the flow picks after sign-in.
    config.write_text(config.read_text().replace('# practice = "TODO"', f'practice = "{PRACTICE}"'))
    # Sign-in, pages and words filled, the lookups still TODO: they fail and say which TODO.
    flow.write_text(fill(flow.read_text(), SETTINGS_FILLED))
    half, outcomes = generated(env, "-k", "known_member or known_claim")
    assert half.returncode == 1, half.stdout[-3000:]
    assert {name: o for name, (o, _) in outcomes.items()} == {
        "test_a_known_member_is_read_and_an_unknown_one_is_not_found": "failure",
        "test_a_known_claim_is_read_and_an_unknown_one_is_not_found": "failure",
    }, half.stdout[-3000:]
    assert "TODO(eligibility)" in half.stdout and "TODO(claim_status)" in half.stdout

    # Every TODO filled and its note deleted: lint-clean, and the generated tests all pass.
    flow.write_text(drop_todo_notes(fill(flow.read_text(), LOOKUPS_FILLED)))
    assert "TODO" not in flow.read_text().partition('"""\n\nfrom')[2], "a TODO is left"
    linted = run([*ruff, str(flow)])
    assert linted.returncode == 0, linted.stdout[-3000:]
    admin(cobalt, "POST", "reset")
    passed, outcomes = generated(env)
    assert passed.returncode == 0, passed.stdout[-4000:]
    assert outcomes == {name: ("passed", "") for name in GENERATED_TESTS}, outcomes
    counters = admin(cobalt, "GET", "counters")
    # one login per test; the resumed context signed in with the kept session, not a login
    assert counters["logins"] == {login["username"]: 5}, counters["logins"]
    assert counters["writes"] == 0 and counters["failed_logins"] == {}

    # Where no test login is set, every generated test skips and says why (`make test`).
    skipped, outcomes = generated(env | {f"{ENV}_PASSWORD": "", f"{ENV}_TOTP_SEED": ""})
    assert skipped.returncode == 0, skipped.stdout[-3000:]
    assert set(outcomes) == GENERATED_TESTS, outcomes
    for outcome, message in outcomes.values():
        assert outcome == "skipped", outcomes
        assert f"set {ENV}_PASSWORD, {ENV}_TOTP_SEED" in message, message

    # The scaffold's error-page table, as generated, reads Cobalt's maintenance page (a 503,
    # "down for scheduled maintenance ... after 6:00 AM Eastern"): postponed, not failed.
    admin(cobalt, "POST", "knobs", json={"maintenance": True})
    try:
        down = run(
            [sys.executable, "-c", MAINTENANCE_CHECK, cobalt], env=env, cwd=root, timeout=120
        )
    finally:
        admin(cobalt, "POST", "knobs", json={"maintenance": False})
    assert down.returncode == 0, down.stderr[-2000:]
    assert down.stdout.split() == ["PortalMaintenance", "6:00", "America/New_York"], down.stdout


# Run in the scaffolded project: log in while Cobalt is in maintenance.
MAINTENANCE_CHECK = """
import asyncio, os, sys
from playwright.async_api import async_playwright
from bots.engine import browser as browser_mod
from bots.errors import PortalMaintenance
from bots.flowkit.flow import LoginSecrets
from bots.settings import BrowserSettings
from flows.cobalt import CobaltFlow

async def main():
    async with async_playwright() as pw:
        browser = await browser_mod.launch(pw, BrowserSettings())
        try:
            page = await (await browser.new_context()).new_page()
            env = "PAYERBOT_TEST_COBALT"
            secrets = LoginSecrets(os.environ[env + "_USERNAME"], os.environ[env + "_PASSWORD"])
            await CobaltFlow(sys.argv[1], options={"practice": "x"}).login(page, secrets)
        except PortalMaintenance as exc:
            until = exc.until
            print(type(exc).__name__, f"{until:%-H:%M}", until.tzinfo)
        finally:
            await browser.close()

asyncio.run(main())
"""
