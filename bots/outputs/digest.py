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
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
from jinja2 import Environment, FileSystemLoader, select_autoescape

from bots.codes import category_words
from bots.dates import local_datetime_text
from bots.files import private_dir
from bots.logs import get_logger
from bots.outputs.links import console_url
from bots.outputs.run_views import PARTS, bucket, summary_parts
from bots.outputs.run_words import resume_command, run_words
from bots.settings import Settings
from bots.store import ItemState, OutcomeCode, Store, utcnow

log = get_logger("payerbot.digest")

_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
)
_env.filters["words"] = category_words  # a rule's key in words: claim_denied -> Claim denied


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
    rejected_rows: list[dict[str, Any]] = []  # per run and file: counts and reasons, no values
    zone = settings.timezone
    workbook = None
    for run_id in run_ids:
        run = store.get_run(run_id)
        notes = (run.notes if run else None) or {}
        workbook = notes.get("workbook") or workbook
        states = store.run_state_counts([run_id]).get(run_id, {})
        words = run_words(run, states) if run else None
        items = store.run_outcomes(run_id)
        status_value = run.status.value if run else ""
        parts = summary_parts(items, notes, status_value)
        del parts["by_reason"]
        runs.append(
            {
                "run_id": run_id,
                "kind": run.kind.value if run else None,
                "status": run.status.value if run else None,
                "status_words": words.text if words else "not found",
                "failed": words.failures if words else 0,
                "left": words.left if words else 0,
                "resume_command": resume_command(run_id) if words and words.left else None,
                "started": local_datetime_text(run.started_at, zone) if run else "",
                "link": console_url(settings, f"/runs/{run_id}"),
                "source": run.source if run else None,
                "counts": run.counts if run else {},
                "parts": parts,  # answered (this run) + reused + no result + ... = total
                "seconds": run.seconds if run else None,
            }
        )
        rejected_rows.extend(_rejected_rows(store, run_id))
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
        for item in items:
            part, _ = bucket(item, notes, status_value)
            by_portal.setdefault(item.portal, Counter())[part] += 1
            if item.state == ItemState.SYSTEM_FAILED:
                failures.append(
                    {
                        "run_id": run_id,
                        "item_id": item.id,
                        "portal": item.portal,
                        "error": item.last_error_code.value if item.last_error_code else None,
                        "words": item.last_error_code.label if item.last_error_code else "",
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
    outcome_names = list(PARTS)  # one vocabulary with the CLI summary and the console
    now = utcnow()
    return {
        "job": job,
        "job_run": job_run,
        "status": status,
        "title": _title(job, status, runs),
        "message": message,
        "generated_at": now.isoformat(timespec="seconds"),
        "generated_local": local_datetime_text(now, zone),
        "links": {
            "home": console_url(settings, "/"),
            "runs": console_url(settings, "/runs"),
            "portals": console_url(settings, "/portals"),
            "followups": console_url(settings, "/queue"),
        },
        "failure_groups": _failure_groups(failures),
        "rejected_rows": rejected_rows,
        "rejected_files": _rejected_files(settings, store, job_run),
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
        f"{data['title']}, {items} lookups, {len(data['failures'])} failed, "
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
    links = data["links"]
    lines = [
        f"{data['title']} ({data['message']})",
        f"written {data['generated_local']}",
        "",
    ]
    for n in data["needs_a_person"]:
        who = n["portal"] + (f"/{n['account']}" if n["account"] else "")
        lines.append(f"NEEDS A PERSON - {who}: {n['why']}")
    for n in data.get("slowed_portals") or []:
        lines.append(f"SLOWED DOWN - {n['portal']}: {n['why']}")
    for r in data["runs"]:
        c = r["parts"]
        lines.append(
            f"run {r['run_id']} {r['kind']} ({r['started']}): {r['status_words']}; "
            f"{c['total']} items, " + ", ".join(f"{c[p]} {p}" for p in PARTS)
        )
        if r["resume_command"]:
            lines.append(f"  {r['left']} item(s) left; resume them with: {r['resume_command']}")
        lines.append(f"  {r['link']}")
    if data["failure_groups"]:
        lines.append("failures by reason:")
        for g in data["failure_groups"]:
            lines.append(f"  {g['count']} x {g['words']} ({g['code']})")
    for f in data["rejected_files"]:
        lines.append(f"REJECTED FILE - {f['file']}: {f['reason']}")
    for r in data["rejected_rows"]:
        reasons = "; ".join(f"{n} x {why}" for why, n in r["reasons"].items())
        lines.append(
            f"rejected rows - {r['file']} (run {r['run_id']}): {r['rows']} row(s): {reasons}"
        )
    f = data["followups"]
    lines.append(f"follow-ups: {f['created']} new, {f['closed']} closed, {f['open_total']} open")
    if data.get("workbook"):
        lines.append(f"workbook: {data['workbook']}")
    lines.append(f"console: {links['home']} (runs {links['runs']}, portals {links['portals']})")
    return "\n".join(lines) + "\n"


def plain_text(data: dict[str, Any]) -> str:
    """The digest as the mail's text part."""
    return _plain(data)


def _title(job: str, status: str, runs: list[dict[str, Any]]) -> str:
    """``payerbot nightly: finished with 17 failures`` (a run with failures says so)."""
    failed = sum(int(r["failed"]) for r in runs)
    left = sum(int(r["left"]) for r in runs)
    title = f"payerbot {job}: {status}"
    if failed:
        title += f" with {failed} failure{'s' if failed != 1 else ''}"
    if left:
        title += f", {left} item{'s' if left != 1 else ''} left"
    return title


def _failure_groups(failures: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Failures counted by reason (words, the code beside them), most frequent first."""
    counts = Counter(f["error"] or "unknown" for f in failures)
    groups = []
    for code, n in counts.most_common():
        portals = Counter(f["portal"] for f in failures if (f["error"] or "unknown") == code)
        groups.append(
            {
                "code": code,
                "words": OutcomeCode(code).label,
                "count": n,
                "portals": dict(sorted(portals.items())),
            }
        )
    return groups


def _rejected_rows(store: Store, run_id: str) -> list[dict[str, Any]]:
    """A run's rejected worklist rows per file: how many rows, and why (never the values)."""
    by_file: dict[str, list[Any]] = {}
    for row in store.import_errors(run_id):
        by_file.setdefault(row.source_file, []).append(row)
    return [
        {
            "run_id": run_id,
            "file": name,
            "rows": len({r.source_row for r in rows}),
            "reasons": dict(
                Counter(
                    (f"{r.column}: " if r.column else "") + r.reason for r in rows
                ).most_common()
            ),
        }
        for name, rows in by_file.items()
    ]


def _rejected_files(settings: Settings, store: Store, job_run: int) -> list[dict[str, str]]:
    """Worklist files the drop folder refused during this job (file name and reason)."""
    folder = settings.drop_folder / "rejected"
    started = next((j.started_at for j in store.job_runs(200) if j.id == job_run), None)
    if started is None or not folder.is_dir():
        return []
    since = started.timestamp() if started.tzinfo else started.replace(tzinfo=UTC).timestamp()
    found = []
    for note in sorted(folder.glob("*.reason.txt")):
        if note.stat().st_mtime >= since - 1:
            found.append(
                {
                    "file": note.name.removesuffix(".reason.txt"),
                    "reason": note.read_text(encoding="utf-8").strip()[:500],
                }
            )
    return found
