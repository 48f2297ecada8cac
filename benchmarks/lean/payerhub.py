"""Lean loop for PayerHub (a single-page app over a JSON API): log in with the TOTP code,
open the eligibility view once, then per question fill, submit, wait for the response of the
search POST that carries *this* member ID, and read the rendered result in one evaluate.

    python -m benchmarks.lean.payerhub JOB.json SESSIONS
"""

from __future__ import annotations

import json
from typing import Any

import pyotp
from playwright.async_api import Response

from benchmarks.lean._loop import Answer, Session, iso, main

# Waits until the results region shows an answer (the app empties it on submit, fills it once
# the JSON is in and the spinner is gone), then returns it: one round trip for wait and read.
READ = """([region, flash]) => new Promise((resolve) => {
  const pairs = (root) => {
    const out = {};
    for (const dt of root.querySelectorAll('dl.pairs dt')) out[dt.textContent] =
      dt.nextElementSibling ? dt.nextElementSibling.textContent : '';
    return out;
  };
  const tables = (root) => [...root.querySelectorAll('table.data')].map((t) => ({
    title: (t.closest('section') || t).querySelector('h3, caption')?.textContent || '',
    rows: [...t.querySelectorAll('tbody tr')].map((r) => [...r.cells].map((c) => c.textContent)),
  }));
  const read = () => {
    if (document.body.classList.contains('busy')) return null;
    const box = document.getElementById(region);
    const alert = document.querySelector('#flash .flash');
    if (alert) return { kind: 'alert', text: alert.textContent };
    if (!box || !box.firstElementChild) return null;
    if (box.querySelector('dl.pairs'))
      return { kind: 'detail', pairs: pairs(box), tables: tables(box) };
    if (box.querySelector('table.data')) return { kind: 'list', tables: tables(box) };
    return { kind: 'none', text: box.textContent };
  };
  const now = read();
  if (now) return resolve(now);
  const watch = new MutationObserver(() => {
    const got = read();
    if (got) { watch.disconnect(); resolve(got); }
  });
  watch.observe(document.body, { childList: true, subtree: true, attributes: true,
    attributeFilter: ['class'] });
})"""


def _answer(shown: dict[str, Any]) -> Answer:
    if shown["kind"] != "detail":
        return Answer(found=False, fields=shown)
    pairs = shown["pairs"]
    return Answer(
        found=True,
        member_id=pairs.get("Member ID", ""),
        dob=iso(pairs.get("Date of birth", "")),
        fields=shown,
    )


def _posted(response: Response, path: str, key: str, value: str) -> bool:
    """The response of the POST to ``path`` whose body asked about ``value``."""
    request = response.request
    if request.method != "POST" or not response.url.endswith(path):
        return False
    try:
        return bool(json.loads(request.post_data or "{}").get(key) == value)
    except ValueError:
        return False


class PayerHub(Session):
    reads_claims = True

    async def open(self, login: dict[str, Any]) -> None:
        page = self.page
        await page.goto(f"{self.url}/#/login")
        await page.fill("#login-username", login["username"])
        await page.fill("#login-password", login["password"])
        await page.click("form button[type=submit]")
        await page.fill("#mfa-code", pyotp.TOTP(login["totp_seed"]).now())
        await page.click("form button[type=submit]")
        await page.wait_for_selector("#mainnav:not([hidden])", state="attached")
        self.view = ""

    async def _view(self, name: str, select: str) -> None:
        """Go to a search view once (hash route), with its payer list loaded."""
        if self.view == name:
            return
        await self.page.evaluate("(name) => { location.hash = '#/' + name; }", name)
        await self.page.wait_for_selector(f"{select} option:nth-child(2)", state="attached")
        self.view = name

    async def eligibility(self, question: dict[str, Any]) -> Answer:
        page = self.page
        await self._view("eligibility", "#elig-payer")
        await page.select_option("#elig-payer", question["payer_id"])
        await page.fill("#elig-member", question["member_id"])
        await page.fill("#elig-dob", str(question["dob"]))
        await page.fill("#elig-dos", str(question["date_of_service"]))
        await page.select_option("#elig-st", question.get("service_type") or "30")
        member = question["member_id"]
        async with page.expect_response(
            lambda r: _posted(r, "/api/eligibility", "member_id", member)
        ) as sent:
            await page.click("#app form.search button[type=submit]")
        response = await sent.value
        if response.status != 200:
            return Answer(found=False, fields={"status": response.status})
        return _answer(await page.evaluate(READ, ["elig-results", "#flash"]))

    async def claim(self, question: dict[str, Any]) -> Answer:
        """By claim number: one hit opens the claim's detail (search POST, then its GET)."""
        page = self.page
        await self._view("claims", "#claim-payer")
        await page.select_option("#claim-payer", question["payer_id"])
        await page.fill("#claim-number", question["claim_number"])
        number = question["claim_number"]
        async with page.expect_response(
            lambda r: _posted(r, "/api/claims/search", "claim_number", number)
        ) as sent:
            await page.click("#app form.search button[type=submit]")
        response = await sent.value
        if response.status != 200:
            return Answer(found=False, fields={"status": response.status})
        answer = _answer(await page.evaluate(READ, ["claim-results", "#flash"]))
        if answer.found and answer.fields["pairs"].get("Claim number") != number:
            return Answer(found=False, fields=answer.fields)  # not this claim: not an answer
        return answer


if __name__ == "__main__":
    main(PayerHub)
