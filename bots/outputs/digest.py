"""The morning digest after a scheduled job: what ran, how it went, what needs a person.

Written as JSON and HTML to ``<data_dir>/reports/`` and, when configured, mailed (SMTP) and
posted (webhook, HMAC-signed). It leaves the machine, so it holds no PHI: counts, run and
item ids, error codes and the bot's own PHI-free messages, account labels, file names of
evidence (named by run and item id). Patient details stay in the workbook and the store.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
from collections import Counter
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
from jinja2 import Environment, FileSystemLoader, select_autoescape

from bots.files import private_dir
from bots.logs import get_logger
from bots.settings import Settings
from bots.store import ItemState, Store, utcnow

log = get_logger("payerbot.digest")

_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
)


def build(
    settings: Settings,
    store: Store,
    job: str,
    job_run: int,
    run_ids: list[str],
    status: str,
    message: str,
) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    by_portal: dict[str, Counter[str]] = {}
    totals: Counter[str] = Counter()
    needs: list[dict[str, Any]] = []
    slowed: list[dict[str, Any]] = []  # portals that asked us to slow down, in words
    workbook = None
    for run_id in run_ids:
        run = store.get_run(run_id)
        notes = (run.notes if run else None) or {}
        workbook = notes.get("workbook") or workbook
        runs.append(
            {
                "run_id": run_id,
                "kind": run.kind.value if run else None,
                "status": run.status.value if run else None,
                "source": run.source if run else None,
                "counts": run.counts if run else {},
                "seconds": run.seconds if run else None,
            }
        )
        for key in ("created", "reopened", "closed"):
            totals[key] += int((notes.get("followups") or {}).get(key, 0))
        for rule, n in ((notes.get("followups") or {}).get("by_rule") or {}).items():
            totals[f"rule:{rule}"] += int(n)
        for portal, why in (notes.get("stopped_portals") or {}).items():
            needs.append({"portal": portal, "account": None, "why": f"stopped: {why}"})
        for portal, why in (notes.get("postponed_portals") or {}).items():
            needs.append({"portal": portal, "account": None, "why": f"postponed: {why}"})
        for portal, said in (notes.get("slowed_portals") or {}).items():
            slowed.append({"run_id": run_id, "portal": portal, "why": said})
        for account, why in (notes.get("accounts_set_aside") or {}).items():
            portal, _, acct = account.partition("/")
            needs.append({"portal": portal, "account": acct, "why": f"not used: {why}"})
        for account, days in (notes.get("password_notices") or {}).items():
            portal, _, acct = account.partition("/")
            left = f"in {days} day(s)" if days is not None else "soon"
            needs.append({"portal": portal, "account": acct, "why": f"password expires {left}"})
        for notice in notes.get("workbook_notices") or []:
            needs.append({"portal": "workbook", "account": None, "why": notice})
        for item in store.run_outcomes(run_id):
            by_portal.setdefault(item.portal, Counter())[item.state.value] += 1
            if item.state == ItemState.SYSTEM_FAILED:
                failures.append(
                    {
                        "run_id": run_id,
                        "item_id": item.id,
                        "portal": item.portal,
                        "error": item.last_error_code.value if item.last_error_code else None,
                        "message": item.last_error_message,
                        "attempts": item.attempts,
                        "evidence": Path(item.evidence_path).name if item.evidence_path else None,
                    }
                )
    for flag in store.flagged_accounts():
        needs.append(
            {
                "portal": flag.portal,
                "account": flag.account,
                "why": f"locked by the bot ({flag.flag}): {flag.reason}; "
                f"`payerbot creds reset-lock {flag.portal} --account {flag.account}`",
            }
        )
    from bots.followups.queue import list_followups

    open_total = len(list_followups(store, status=["open", "in progress"], limit=1_000_000))
    outcome_names = ["succeeded", "business_failed", "system_failed", "new", "in_progress"]
    return {
        "job": job,
        "job_run": job_run,
        "status": status,
        "message": message,
        "generated_at": utcnow().isoformat(timespec="seconds"),
        "runs": runs,
        "outcome_names": outcome_names,
        "by_portal": {p: dict(c) for p, c in sorted(by_portal.items())},
        "failures": failures,
        "followups": {
            "created": totals["created"],
            "reopened": totals["reopened"],
            "closed": totals["closed"],
            "open_total": open_total,
            "by_rule": {
                k.removeprefix("rule:"): v
                for k, v in sorted(totals.items())
                if k.startswith("rule:")
            },
        },
        "needs_a_person": needs,
        "slowed_portals": slowed,
        "workbook": workbook,
        "delivery": {},
    }


def render_html(data: dict[str, Any]) -> str:
    return _env.get_template("digest.html").render(d=data)


def write_and_send(
    settings: Settings,
    store: Store,
    job: str,
    job_run: int,
    run_ids: list[str],
    status: str,
    message: str,
) -> Path:
    data = build(settings, store, job, job_run, run_ids, status, message)
    html = render_html(data)
    cfg = settings.schedule.digest
    items = sum(int(r["counts"].get("items", 0)) for r in data["runs"])
    subject = (
        f"payerbot {job}: {status}, {items} lookups, {len(data['failures'])} failed, "
        f"{len(data['needs_a_person'])} need a person"
    )
    if cfg.smtp_host and cfg.mail_to:
        data["delivery"]["email"] = _mail(settings, subject, data, html)
    if cfg.webhook_url:
        data["delivery"]["webhook"] = _post(settings, data)
    folder = private_dir(settings.data_dir / "reports")
    stem = f"{datetime.now():%Y-%m-%d-%H%M%S}-{job}-{job_run}"
    for suffix, text in ((".json", json.dumps(data, indent=1, default=str)), (".html", html)):
        path = folder / f"{stem}{suffix}"
        path.write_text(text, encoding="utf-8")
        path.chmod(0o600)
    log.info("digest.written", job=job, path=str(folder / f"{stem}.html"), **data["delivery"])
    return folder / f"{stem}.html"


def _mail(settings: Settings, subject: str, data: dict[str, Any], html: str) -> str:
    cfg = settings.schedule.digest
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = cfg.mail_from
    msg["To"] = ", ".join(cfg.mail_to)
    msg.set_content(_plain(data))
    msg.add_alternative(html, subtype="html")
    try:
        with smtplib.SMTP(cfg.smtp_host or "", cfg.smtp_port, timeout=30) as smtp:
            if cfg.smtp_starttls:
                smtp.starttls()
            if cfg.smtp_username and cfg.smtp_password:
                smtp.login(cfg.smtp_username, cfg.smtp_password.get_secret_value())
            smtp.send_message(msg)
        return "sent"
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("digest.mail_failed", error=type(exc).__name__)
        return f"failed: {type(exc).__name__}"


def _post(settings: Settings, data: dict[str, Any]) -> str:
    cfg = settings.schedule.digest
    body = json.dumps(data, default=str).encode()
    headers = {"Content-Type": "application/json"}
    if cfg.webhook_secret:
        mac = hmac.new(cfg.webhook_secret.get_secret_value().encode(), body, hashlib.sha256)
        headers["X-Payerbot-Signature"] = f"sha256={mac.hexdigest()}"
    try:
        response = httpx.post(cfg.webhook_url or "", content=body, headers=headers, timeout=30)
        response.raise_for_status()
        return "sent"
    except httpx.HTTPError as exc:
        log.warning("digest.webhook_failed", error=type(exc).__name__)
        return f"failed: {type(exc).__name__}"


def _plain(data: dict[str, Any]) -> str:
    lines = [f"payerbot {data['job']}: {data['status']} ({data['message']})", ""]
    for n in data["needs_a_person"]:
        who = n["portal"] + (f"/{n['account']}" if n["account"] else "")
        lines.append(f"NEEDS A PERSON - {who}: {n['why']}")
    for n in data.get("slowed_portals") or []:
        lines.append(f"SLOWED DOWN - {n['portal']}: {n['why']}")
    for r in data["runs"]:
        c = r["counts"]
        lines.append(
            f"run {r['run_id']} {r['kind']}: {c.get('items', 0)} items, "
            f"{c.get('succeeded', 0)} answered, {c.get('business_failed', 0)} no result, "
            f"{c.get('system_failed', 0)} failed"
        )
    f = data["followups"]
    lines.append(f"follow-ups: {f['created']} new, {f['closed']} closed, {f['open_total']} open")
    if data.get("workbook"):
        lines.append(f"workbook: {data['workbook']}")
    return "\n".join(lines) + "\n"
