"""The one object callers hold: ``Store``, made of the store's parts by aggregate."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bots.store.accounts import AccountsMixin
from bots.store.fleet import FleetMixin
from bots.store.followups import FollowupsMixin
from bots.store.jobs import JobsMixin
from bots.store.morning import MorningMixin
from bots.store.outcomes import OutcomesMixin
from bots.store.pacing import PacingMixin
from bots.store.queue import QueueMixin
from bots.store.runs import RunsMixin
from bots.store.users import UsersMixin
from bots.store.vault import VaultMixin

if TYPE_CHECKING:
    from bots.settings import Settings


class Store(
    RunsMixin,
    QueueMixin,
    FleetMixin,
    OutcomesMixin,
    AccountsMixin,
    FollowupsMixin,
    UsersMixin,
    VaultMixin,
    JobsMixin,
    PacingMixin,
    MorningMixin,
):
    """Runs, the work queue, answers, accounts, follow-ups, users, kept sessions, job
    runs and the paces portals taught: the only code that speaks SQL. SQLite by default,
    PostgreSQL to scale out.

    Open it with ``Store.open(settings)``; ``Store(url, queue, node=...)`` is for tests
    and tools that have a URL but no settings."""

    @classmethod
    def open(cls, settings: Settings) -> Store:
        """The store of these settings: their database, queue discipline and node name."""
        return cls(settings.store_url, settings.queue, node=settings.node)
