"""Account leases: one live session per portal account across processes and machines, held in
the store under a lease this process renews while it runs."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Iterable

from bots.store import AccountLease, Store


class AccountLeases:
    """The accounts one process (a run, or a fleet worker) holds, and their renewal."""

    def __init__(self, store: Store, seconds: float) -> None:
        self.store = store
        self.seconds = seconds
        self.holder = f"{store.owner}:{secrets.token_hex(4)}"

    async def lease(
        self, portal_id: str, account: str, run_id: str | None, *, portal_limit: int | None = None
    ) -> AccountLease:
        """Take the account unless a live holder has it (``portal_limit``: unless that many
        of the portal's accounts are held elsewhere)."""
        return await asyncio.to_thread(
            self.store.lease_account,
            portal_id,
            account,
            self.holder,
            run_id,
            self.seconds,
            portal_limit=portal_limit,
        )

    async def lease_first_free(
        self,
        portal_id: str,
        accounts: Iterable[str],
        run_id: str | None,
        *,
        portal_limit: int | None = None,
        usable: Callable[[str], bool] = lambda _account: True,
    ) -> str | None:
        """The first of ``accounts`` not flagged, ``usable`` and not held by anyone now,
        leased to us."""
        flagged = {
            f.account for f in await asyncio.to_thread(self.store.flagged_accounts, portal_id)
        }
        for account in accounts:
            if account in flagged or not usable(account):
                continue
            lease = await self.lease(portal_id, account, run_id, portal_limit=portal_limit)
            if lease.acquired:
                return account
        return None

    async def release(self, portal_id: str, account: str) -> None:
        await asyncio.to_thread(self.store.release_account, portal_id, account, self.holder)

    async def renew_forever(self) -> None:
        """Renew every lease of this holder each third of the lease (a task: cancel it)."""
        while True:
            await asyncio.sleep(self.seconds / 3)
            await asyncio.to_thread(self.store.renew_account_leases, self.holder, self.seconds)
