"""Settings: defaults in config/*.toml, overridden by PAYERBOT_* environment variables.

Nested keys use ``__``: ``PAYERBOT_PORTALS__PAYERHUB__MAX_SESSIONS=4``,
``PAYERBOT_BROWSER__EXECUTABLE=/usr/bin/chromium``. Credentials never live in the
TOML files: they come from the environment or the secrets folder (credentials.py).
"""

from __future__ import annotations

import os
import string
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bots.config_errors import check_environment, check_files
from bots.errors import ConfigurationError
from bots.maintenance import MaintenanceWindow

ROOT = Path(__file__).resolve().parents[1]
"""The checkout: config/, fixtures/ and the default data folder ./var live here."""


class BrowserSettings(BaseModel):
    """Which Chromium to start and how."""

    executable: Path | None = None
    headless: bool = True
    action_timeout_ms: int = 15_000
    navigation_timeout_ms: int = 30_000
    block_resource_types: list[str] = Field(default_factory=lambda: ["font", "media"])
    evidence_format: Literal["png", "jpeg"] = "jpeg"
    """Screenshots of result pages; JPEG is smaller and faster to encode, PNG is lossless."""
    evidence_quality: int = Field(default=80, ge=30, le=100)
    trace: Literal["retries", "always", "off"] = "retries"
    """Record a Playwright trace: on retry attempts only (cheap), on every attempt, or never.
    Traces are kept only for failed attempts either way."""


class PortalSettings(BaseModel):
    """One payer portal: where it is, which flow drives it, which accounts log in."""

    flow: str | None = None
    title: str = ""
    base_url: str
    accounts: list[str] = Field(min_length=1)
    max_sessions: int = Field(default=2, ge=1)
    lookups_per_context: int = Field(default=250, ge=1)
    api_reads: bool = False
    """Read the JSON the portal's own pages fetch, through the logged-in browser context,
    instead of rendering the pages (flows that offer it: docs/benchmarks.md). The login stays
    in the browser; the evidence is the portal's response saved as received, not a
    screenshot."""
    pace_seconds: float = Field(default=0.0, ge=0)
    """Least time between two lookups on this portal (all its sessions together)."""
    fixture: str | None = None
    """Name of the bundled mock portal that serves base_url (started on demand if local)."""
    timezone: str | None = None
    """The portal's local time zone (IANA name) for maintenance windows; defaults to
    Settings.timezone."""
    maintenance_windows: list[str] = Field(default_factory=list)
    """Scheduled downtime in the portal's time zone, e.g. ``"Sun 00:00-04:00"``,
    ``"daily 23:30-00:15"``, ``"Sat-Sun 01:00-02:00"`` (format in bots/maintenance.py)."""
    options: dict[str, Any] = Field(default_factory=dict)
    """``[portals.NAME.options]``: the per-portal choices a flow declares (which practice
    location to pick after login, which NPI or tax ID to search under), validated by the
    flow's ``options_model`` when the flow is built (``bots.engine.gates.build_flow``)."""

    @field_validator("maintenance_windows", mode="after")
    @classmethod
    def _parse_windows(cls, value: list[str]) -> list[str]:
        for text in value:
            MaintenanceWindow.parse(text)  # ValueError names the bad entry
        return value

    @field_validator("timezone", mode="after")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
        return value

    def windows(self) -> list[MaintenanceWindow]:
        """The parsed maintenance windows (interpret them in timezone or Settings.timezone)."""
        return [MaintenanceWindow.parse(text) for text in self.maintenance_windows]

    @property
    def is_local(self) -> bool:
        return urlsplit(self.base_url).hostname in {"127.0.0.1", "localhost", "::1"}


class PayerSettings(BaseModel):
    """A payer, the portal that answers for it, and the names worklists use for it."""

    name: str
    portal: str
    aliases: list[str] = Field(default_factory=list)


class QueueSettings(BaseModel):
    """Retry and lease discipline of the work queue."""

    max_attempts: int = Field(default=3, ge=1)
    backoff_base_seconds: float = 2.0
    backoff_max_seconds: float = 120.0
    lease_seconds: float = 180.0
    dedupe_window_hours: float = 12.0
    maintenance_wait_minutes: float = 10.0
    """A maintenance window ending sooner than this is waited out; a longer one postpones
    the portal's items to the next run."""
    layout_breaker: int = Field(default=5, ge=1)
    """This many lookups in a row on one portal failing to read its pages (layout_changed)
    pause the portal for the run, its other items left queued."""
    drift_canary: bool = True
    """Before a batch, check each portal's sign-in and search pages for the landmarks its
    flow relies on; a portal whose pages changed is paused for the run (bots/engine/drift.py)."""
    lookup_timeout_seconds: float = Field(default=120.0, gt=0)
    """A lookup (its login included) not answered within this is cut off and recorded as a
    portal_timeout (retried): a page that never settles never hangs a run."""
    rate_limit_pause_seconds: float = Field(default=30.0, ge=0)
    """How long a portal's sessions pause after a 429 that names no Retry-After (a
    Retry-After is honoured as given)."""
    rate_limit_slowdown: float = Field(default=2.0, ge=1)
    """Each 429 multiplies the portal's spacing between lookups (all its sessions together)
    by this, for the rest of the run; a 429 costs no attempt and no login."""
    rate_limit_first_pace_seconds: float = Field(default=1.0, gt=0)
    """The spacing after the first 429 on a portal that had none (``pace_seconds`` 0)."""
    rate_limit_recovery_per_minute: float = Field(default=1.0, ge=0)
    """Each answer lets the portal have this many more lookups a minute again (additive, as
    TCP recovers: quick from a crawl, slow near the limit), never faster than
    ``pace_seconds``."""
    rate_limit_max_pace_seconds: float = Field(default=60.0, gt=0)
    """The slowest the bot paces a portal because of 429s (60: one lookup a minute)."""
    rate_limit_budget_minutes: float = Field(default=30.0, gt=0)
    """429s on a portal for this long without one answer postpone its remaining items
    (queued, for `payerbot runs resume`), never fail them."""
    rate_limit_memory_hours: float = Field(default=4.0, gt=0)
    """The pace a portal was slowed to is remembered for the next run, halving every this
    many hours."""
    poll_seconds: float = Field(default=1.0, gt=0)
    """How often an idle session, a fleet worker or a desk lookup waiting for a borrowed
    session asks the store again."""


class SessionSettings(BaseModel):
    """Portal sessions across runs and processes."""

    reuse: bool = True
    """Keep each account's logged-in state between runs (encrypted, see bots/engine/vault.py)."""
    max_age_hours: float = Field(default=12.0, gt=0)
    """A kept session older than this is not tried (portals end sessions after hours)."""
    account_lease_seconds: float = Field(default=60.0, ge=5)
    """A process holds each account it logs in with under a lease renewed every third of
    this; a crashed holder's lease lapses after it (at once on the same host)."""
    borrow_wait_seconds: float = Field(default=60.0, ge=0)
    """A single lookup whose accounts are all held by a run asks that run to do it and waits
    this long for the answer."""


Priority = Literal["high", "medium", "low"]


class FollowupRule(BaseModel):
    """One follow-up rule: its wording, priority and default assignee (config/followups.toml)."""

    enabled: bool = True
    priority: Priority = "medium"
    reason: str
    action: str
    assignee: str | None = None


class DenialCategory(BaseModel):
    """A denial triage category: the CARCs that put a denied claim in it, what to do next."""

    label: str
    carcs: list[str] = Field(default_factory=list)
    priority: Priority = "high"
    action: str


FOLLOWUP_PLACEHOLDERS = frozenset(
    {
        "date_of_service",
        "termination_date",
        "effective_date",
        "group_on_file",
        "group_found",
        "plan_name",
        "service_type",
        "reason_code",
        "category",
        "carcs",
        "days_pended",
        "received_date",
        "expected_paid",
        "paid",
        "shortfall",
        "status_text",
    }
)


class PrioritySettings(BaseModel):
    """How a follow-up's priority is scored (config/followups.toml [followups.priority]):
    points for the rule's own priority, the appointment's nearness and the money at stake;
    the total against ``high_from`` / ``medium_from`` gives high, medium or low."""

    rule_points: dict[str, int] = Field(
        default_factory=lambda: {"high": 50, "medium": 30, "low": 10}
    )
    nearness: list[tuple[int, int]] = Field(default_factory=lambda: [(1, 30), (7, 15), (30, 5)])
    """(within this many days of today, points) for the appointment; the first that fits."""
    money: list[tuple[Decimal, int]] = Field(
        default_factory=lambda: [(Decimal(500), 20), (Decimal(150), 10)]
    )
    """(from this amount up, points) for the charge, billed amount or shortfall."""
    high_from: int = 70
    medium_from: int = 40


class FollowupSettings(BaseModel):
    pended_days: int = Field(default=30, ge=0)
    underpaid_tolerance: Decimal = Field(default=Decimal("1.00"), ge=0)
    rules: dict[str, FollowupRule] = Field(default_factory=dict)
    denials: dict[str, DenialCategory] = Field(default_factory=dict)
    priority: PrioritySettings = Field(default_factory=PrioritySettings)

    @model_validator(mode="after")
    def _known_placeholders(self) -> FollowupSettings:
        texts = [(f"rules.{n}", r.reason + r.action) for n, r in self.rules.items()]
        texts += [(f"denials.{n}", d.action) for n, d in self.denials.items()]
        for where, text in texts:
            for _, name, _, _ in string.Formatter().parse(text):
                if name is not None and name not in FOLLOWUP_PLACEHOLDERS:
                    raise ValueError(
                        f"followups.{where}: unknown placeholder {{{name}}} "
                        f"(known: {', '.join(sorted(FOLLOWUP_PLACEHOLDERS))})"
                    )
        return self


class OutputSettings(BaseModel):
    """Where the specialists' workbook goes and what it shows."""

    workbook: Path | None = None
    """The specialists' workbook (e.g. on a shared drive); default
    data_dir/spreadsheets/payerbot.xlsx."""
    workbook_days: int = Field(default=7, ge=1)
    """Lookups and rejected rows of this many days are listed (open follow-ups always are)."""
    high_patient_cost: Decimal = Decimal("500")
    """Estimated patient cost from this amount up is highlighted."""


class ScheduledJob(BaseModel):
    """One scheduled batch (config/schedule.toml)."""

    enabled: bool = True
    cron: str
    """Crontab: "minute hour day month weekday" (5 fields), or 6 with seconds first."""
    timezone: str | None = None
    """Of the cron times; default schedule.timezone."""
    source: Literal["drop_folder", "appointments_ahead", "claims_open", "followup_rechecks"]
    kind: Literal["auto", "eligibility", "claim_status"] = "auto"
    """For drop_folder: what its files are ("auto": decided by each file's columns)."""
    days_ahead: int = Field(default=1, ge=0)
    """appointments_ahead: eligibility of appointments from today to this many days ahead."""
    older_than_days: int = Field(default=14, ge=0)
    """claims_open: claims whose service date is older than this and not final."""
    recheck_after_days: int = Field(default=7, ge=0)
    """followup_rechecks: items of follow-ups untouched for this long are asked again."""
    fresh_hours: float = Field(default=20.0, ge=0)
    """appointments_ahead / claims_open: an answer younger than this is not asked again."""


class DigestSettings(BaseModel):
    """Where the morning digest goes besides the data folder (no PHI in it)."""

    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    mail_from: str = "payerbot@localhost"
    mail_to: list[str] = Field(default_factory=list)
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    """Signs the webhook body: header X-Payerbot-Signature: sha256=<HMAC of the body>."""


class ScheduleSettings(BaseModel):
    timezone: str = "America/New_York"
    misfire_grace_seconds: int = Field(default=6 * 3600, ge=1)
    """A run missed (machine off, scheduler down) is still run once at start within this."""
    drop_folder: Path | None = None
    """Worklists dropped here are picked up once; default data_dir/inbox."""
    settle_seconds: float = Field(default=2.0, ge=0)
    """A file changed more recently than this may still be copying: left for the next run."""
    jobs: dict[str, ScheduledJob] = Field(default_factory=dict)
    digest: DigestSettings = Field(default_factory=DigestSettings)
    execution: Literal["local", "fleet"] = "local"
    """local: the scheduler runs each batch itself. fleet: it queues the batch in the shared
    store for `payerbot worker` processes and writes the digest once they have finished it."""
    drop_folder_check_minutes: float = Field(default=5.0, ge=0)
    """How often the running scheduler looks in the drop folder between its jobs: a file
    found there runs the drop_folder job at once, not at its next cron time (0: only at the
    cron time)."""


class ConsoleSettings(BaseModel):
    """The web console (`payerbot serve`)."""

    host: str = "127.0.0.1"
    """Bind address: local only by default. Put TLS in front (a reverse proxy) before
    opening it to a network, and set secure_cookies."""
    port: int = 8700
    idle_minutes: float = Field(default=15.0, gt=0)
    secure_cookies: bool = False
    """Send the session cookie over HTTPS only (on whenever TLS is in front)."""
    trusted_proxy: str = ""
    """The address of the HTTPS proxy in front (e.g. 127.0.0.1), whose X-Forwarded-For
    header names the client; empty: the header is ignored (nobody can pose as another
    address to the login throttle)."""
    login_free_failures: int = Field(default=3, ge=1)
    """Failed logins (per user name, and per client address) answered without delay."""
    login_delay_seconds: float = Field(default=1.0, gt=0)
    """After those, the next login waits this long, doubling with each further failure."""
    login_max_delay_seconds: float = Field(default=30.0, gt=0)
    """The longest wait: all a stranger's failures can cost a real user on another computer."""
    login_lock_after: int = Field(default=10, ge=1)
    """Failed (or too early) logins from one address that lock that address out."""
    login_lock_seconds: float = Field(default=300.0, gt=0)
    """How long such a lock lasts (the address only; the user logs in from elsewhere)."""
    public_url: str | None = None
    """The console's address as people outside this machine open it (the links in the
    digest and the workbooks), e.g. https://payerbot.clinic.example; empty: http://host:port."""


class WorklistPreset(BaseModel):
    """Column names one practice-management export uses, per lookup field."""

    kind: str
    columns: dict[str, list[str]]
    service_type: str | None = None
    """The service type a desk lookup of this kind asks about unless told (eligibility)."""


class WorklistSettings(BaseModel):
    presets: dict[str, WorklistPreset] = Field(default_factory=dict)
    visit_types: dict[str, str] = Field(default_factory=dict)
    """The practice's visit type names -> X12 service type codes (prior-auth and cost rules)."""
    service_days_back: int = Field(default=730, ge=0)
    """A row whose date of service lies more than this many days before today is rejected
    (a mistyped year, not a claim still worth checking)."""
    service_days_ahead: int = Field(default=365, ge=0)
    """A row whose date of service lies more than this many days after today is rejected."""

    service_types: dict[str, str] = Field(default_factory=dict)
    """The list a desk lookup picks its service type from: a name a person reads -> the X12
    service type code (config/worklists.toml ``[worklists.service_types]``)."""

    def desk_service_type(self) -> str:
        """A desk eligibility lookup's service type unless told: the first eligibility
        preset's ``service_type``, else plan level (30)."""
        return next(
            (
                p.service_type
                for p in self.presets.values()
                if p.kind == "eligibility" and p.service_type
            ),
            "30",
        )

    def service_type_name(self, code: str) -> str | None:
        """The listed name of a service type code (None: not on the list)."""
        return next((n for n, c in self.service_types.items() if c == code), None)

    def service_type_for(self, visit_type: str) -> str | None:
        wanted = " ".join(visit_type.split()).casefold()
        return next(
            (code for name, code in self.visit_types.items() if name.casefold() == wanted), None
        )


class AccountCredentials(BaseModel):
    """A portal login. Secret values never print: repr shows only which keys are set."""

    username: SecretStr | None = None
    password: SecretStr | None = None
    totp_seed: SecretStr | None = None
    security_answers: SecretStr | None = None
    """JSON object {question: answer} for portals that ask on a new device."""


class Settings(BaseSettings):
    """Everything configurable, validated at start."""

    model_config = SettingsConfigDict(
        env_prefix="PAYERBOT_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    data_dir: Path = ROOT / "var"
    fixtures_dir: Path = ROOT / "fixtures"
    timezone: str = "America/New_York"
    log_level: str = "INFO"
    browser: BrowserSettings = Field(default_factory=BrowserSettings)
    queue: QueueSettings = Field(default_factory=QueueSettings)
    sessions: SessionSettings = Field(default_factory=SessionSettings)
    portals: dict[str, PortalSettings] = Field(default_factory=dict)
    payers: dict[str, PayerSettings] = Field(default_factory=dict)
    worklists: WorklistSettings = Field(default_factory=WorklistSettings)
    followups: FollowupSettings = Field(default_factory=FollowupSettings)
    outputs: OutputSettings = Field(default_factory=OutputSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    credentials: dict[str, dict[str, AccountCredentials]] = Field(default_factory=dict, repr=False)
    retention_days: float | None = Field(default=90, gt=0)
    """The scheduler purges evidence, traces, run logs, per-run workbooks, digests and
    processed worklists of runs older than this after each job (None: never)."""
    secrets_dir: Path | None = None
    """Folder of <portal>/<account>/{username,password,totp_seed} files; default data/secrets."""
    database_url: str | None = Field(default=None, repr=False)  # may hold a password
    """The store (``PAYERBOT_DATABASE_URL``): a PostgreSQL URL to scale out
    (``postgresql+psycopg://user@host/db``); default the SQLite file data_dir/payerbot.db."""
    node: str | None = None
    """This machine's name in leases and runs (``PAYERBOT_NODE``); default the host name.
    Leases of a dead process on the same node are taken over at once, so two machines must
    never share a name."""

    progress_every_items: int = Field(default=25, ge=1)
    """When the CLI's output is not a terminal (a log, a pipe): a progress line every this
    many lookups ..."""
    progress_every_seconds: float = Field(default=30.0, gt=0)
    """... or every this many seconds, whichever comes first (a terminal shows a live bar)."""

    installation: str | None = None
    """What tells this installation's bundled mock portals from another's on the same
    machine (``PAYERBOT_INSTALLATION``); default the data folder. Mock portals started by
    another installation are never shared."""

    @field_validator("data_dir", "fixtures_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_files = sorted(config_dir().glob("*.toml"))
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_files))

    @property
    def installation_id(self) -> str:
        return self.installation or str(self.data_dir)

    @property
    def store_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'payerbot.db'}"

    @property
    def drop_folder(self) -> Path:
        return self.schedule.drop_folder or self.data_dir / "inbox"

    @property
    def workbook_path(self) -> Path:
        return self.outputs.workbook or self.data_dir / "spreadsheets" / "payerbot.xlsx"

    @property
    def resolved_secrets_dir(self) -> Path:
        return self.secrets_dir or self.data_dir / "secrets"

    def payer(self, payer_id: str) -> PayerSettings:
        return self.payers[payer_id]

    def portal_for_payer(self, payer_id: str) -> str:
        """The portal that answers for the payer, or a ConfigurationError saying what to fix
        (found before any browser starts)."""
        payer = self.payers.get(payer_id)
        if payer is None:
            raise ConfigurationError(
                f"payer {payer_id!r} is not configured: add it to config/portals.toml"
            )
        if payer.portal not in self.portals:
            raise ConfigurationError(
                f"payer {payer_id!r} is routed to portal {payer.portal!r}, "
                "which is not configured in config/portals.toml"
            )
        return payer.portal

    def flow_name(self, portal_id: str) -> str:
        return self.portals[portal_id].flow or portal_id


def config_dir() -> Path:
    """The folder of the TOML files (``PAYERBOT_CONFIG_DIR``, default ./config)."""
    return Path(os.environ.get("PAYERBOT_CONFIG_DIR", ROOT / "config"))


def load_settings(**overrides: object) -> Settings:
    """Settings from TOML + environment, with explicit overrides on top (tests, CLI flags).

    A TOML syntax error (file and line) or an unknown key (with the closest valid one), in
    a file or a PAYERBOT_* variable, is a ConfigurationError in one sentence; a wrong type
    is pydantic's ValidationError (``bots.config_errors.explain`` says it in one line)."""
    check_files(sorted(config_dir().glob("*.toml")), Settings)
    check_environment(os.environ, Settings)
    return Settings(**overrides)  # type: ignore[arg-type]  # pydantic validates the overrides
