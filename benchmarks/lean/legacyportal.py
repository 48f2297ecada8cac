"""Lean loop for the legacy portal (server-rendered, frames, captions instead of labels): log
in (security question on a new computer), then work on the inquiry page itself, outside the
frameset. Per question: fill, submit, wait for the navigation whose response answers this
form post, read the captioned fields in one evaluate. A result page has no form: the next
question opens the inquiry page again (a not-found answer re-renders the form, kept).

    python -m benchmarks.lean.legacyportal JOB.json SESSIONS
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from benchmarks.lean._loop import Answer, Session, iso, main, us

PAYERS = {"DELTA": "Delta Prairie Health", "ELM": "Elmwood Benefit Trust"}
INQUIRY = "/Eligibility/Inquiry.aspx"

READ = """() => {
  const caps = {};
  for (const td of document.querySelectorAll('td.cap')) {
    const value = td.nextElementSibling;
    const key = td.textContent.trim();
    if (key && value && !value.querySelector('input, select') && !(key in caps))
      caps[key] = value.textContent.trim();
  }
  const titles = [...document.querySelectorAll('td.title')].map((t) => t.textContent.trim());
  const err = document.querySelector('span.err');
  const tables = [...document.querySelectorAll('table')].filter((t) => t.querySelector(
    ':scope > tbody > tr > td.hdr')).map((t) => [...t.rows].map((r) => [...r.cells].map(
    (c) => c.textContent.trim())));
  return { caps, titles, error: err ? err.textContent : '', tables,
    form: !!document.querySelector('select[name=ddlPayer]') };
}"""


class LegacyPortal(Session):
    async def open(self, login: dict[str, Any]) -> None:
        page = self.page
        await page.goto(f"{self.url}/login.aspx")
        await page.fill("input[name=txtUserID]", login["username"])
        await page.fill("input[name=txtPassword]", login["password"])
        async with page.expect_navigation():
            await page.click("input[name=btnLogin]")
        for _ in range(3):
            if "/default.aspx" in page.url:
                break
            if await page.locator("input[name=txtAnswer]").count():
                question = await page.evaluate(
                    "() => [...document.querySelectorAll('td.cap')].find((td) =>"
                    " td.textContent.trim() === 'Question:').nextElementSibling.textContent"
                )
                answers = {q.lower(): a for q, a in login["security_answers"].items()}
                await page.fill("input[name=txtAnswer]", answers[question.strip().lower()])
                await page.check("input[name=chkRemember]")
                async with page.expect_navigation():
                    await page.click("input[name=btnContinue]")
            elif await page.locator("input[name=btnLater]").count():
                async with page.expect_navigation():
                    await page.click("input[name=btnLater]")  # never change the password
            else:
                raise RuntimeError("login did not reach the portal's home page")
        else:
            raise RuntimeError("login did not reach the portal's home page")
        await page.goto(f"{self.url}{INQUIRY}")
        self.on_form = True

    async def eligibility(self, question: dict[str, Any]) -> Answer:
        page = self.page
        if not self.on_form:
            await page.goto(f"{self.url}{INQUIRY}")
        await page.select_option("select[name=ddlPayer]", label=PAYERS[question["payer_id"]])
        await page.fill("input[name=txtSubscriberID]", question["member_id"])
        await page.fill("input[name=txtDOB]", us(str(question["dob"])).replace("/", ""))
        await page.fill("input[name=txtDOS]", us(str(question["date_of_service"])))
        async with page.expect_navigation(wait_until="domcontentloaded") as moved:
            await page.click("input[name=btnSubmit]")
        response = await moved.value
        if response is None or response.status != 200:
            raise RuntimeError("the inquiry did not answer")
        sent = parse_qs(response.request.post_data or "")
        if response.request.method != "POST" or sent.get("txtSubscriberID") != [
            question["member_id"]
        ]:
            raise RuntimeError("the page shown does not answer this question")
        shown = await page.evaluate(READ)
        self.on_form = shown["form"]
        caps = shown["caps"]
        if "Eligibility and Benefits" not in shown["titles"]:
            return Answer(found=False, fields=shown)
        member_id = caps.get("Subscriber ID:") or caps.get("Member Number:", "")
        return Answer(
            found=True, member_id=member_id, dob=iso(caps.get("Date of Birth:", "")), fields=shown
        )


if __name__ == "__main__":
    main(LegacyPortal)
