"""Lean loop for the state Medicaid portal (server-rendered, Terms of Use on every login,
masked date inputs that take only typed keys): log in, accept the terms, open the
eligibility form once. The result page shows the form again with the last values, so a
session stays on it: per question fill the ID, type only the dates that differ from what the
mask shows, submit, wait for the navigation answering this post, read the result in one
evaluate. The portal searches by case number + DOB: the shown ID and DOB must be the
question's (a confidential recipient's identity is withheld; only an exact search finds one).

    python -m benchmarks.lean.medicaidportal JOB.json SESSIONS
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from benchmarks.lean._loop import Answer, Session, iso, main, us

DATES = ("dob", "dos_from", "dos_to")
CONFIDENTIAL = "Confidential recipient"

READ = """() => {
  const box = document.querySelector('section[aria-label="Eligibility Results"]');
  const alert = document.querySelector('.msg[role=alert]');
  const out = { error: alert ? alert.textContent : '', pairs: {}, tables: [] };
  if (!box) return out;
  for (const dt of box.querySelectorAll('dl dt'))
    out.pairs[dt.textContent] = dt.nextElementSibling ? dt.nextElementSibling.textContent : '';
  out.tables = [...box.querySelectorAll('table')].map((t) => ({
    caption: t.caption ? t.caption.textContent : '',
    rows: [...t.rows].map((r) => [...r.cells].map((c) => c.textContent)) }));
  return out;
}"""
SHOWN_DATES = "(ids) => ids.map((id) => document.getElementById(id).value)"


class MedicaidPortal(Session):
    async def open(self, login: dict[str, Any]) -> None:
        page = self.page
        await page.goto(f"{self.url}/login")
        await page.fill("#username", login["username"])
        await page.fill("#password", login["password"])
        async with page.expect_navigation():
            await page.click("form button[type=submit]")
        # The terms: scrolled to the end enables the box, the box enables Accept.
        await page.evaluate(
            "() => { const t = document.getElementById('terms-text');"
            " t.scrollTop = t.scrollHeight; t.dispatchEvent(new Event('scroll')); }"
        )
        await page.check("#agree")
        async with page.expect_navigation():
            await page.click("#accept")
        await page.goto(f"{self.url}/eligibility")

    async def eligibility(self, question: dict[str, Any]) -> Answer:
        page = self.page
        dos = us(str(question["date_of_service"]))
        wanted = [us(str(question["dob"])), dos, dos]
        await page.fill("#member_id", question["member_id"])
        shown = await page.evaluate(SHOWN_DATES, list(DATES))
        for name, value, now in zip(DATES, wanted, shown, strict=True):
            if value != now:  # the mask refuses a set value: clear it, type the digits
                await page.focus(f"#{name}")
                await page.keyboard.press("Delete")
                await page.keyboard.type(value.replace("/", ""))
        async with page.expect_navigation(wait_until="domcontentloaded") as moved:
            await page.click("form[action='/eligibility'] button[type=submit]")
        response = await moved.value
        if response is None or response.status not in (200, 400):
            raise RuntimeError("the search did not answer")
        sent = parse_qs(response.request.post_data or "")
        if response.request.method != "POST" or sent.get("member_id") != [question["member_id"]]:
            raise RuntimeError("the page shown does not answer this question")
        result = await page.evaluate(READ)
        pairs = result["pairs"]
        if not pairs:
            return Answer(found=False, fields=result)
        if CONFIDENTIAL in pairs.get("Recipient", ""):
            return Answer(found=True, identity_withheld=True, fields=result)
        return Answer(
            found=True,
            member_id=pairs.get("Medicaid ID") or pairs.get("Recipient ID", ""),
            dob=iso(pairs.get("Date of Birth") or pairs.get("Birth Date", "")),
            fields=result,
        )


if __name__ == "__main__":
    main(MedicaidPortal)
