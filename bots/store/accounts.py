"""Portal accounts: lockout flags, the one-live-session lease per account, login notes."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select, update

from bots.store.engine import StoreBase, utcnow
from bots.store.rows import AccountFlag, AccountLease, AccountSession
from bots.store.schema import account_flags, account_sessions


class AccountsMixin(StoreBase):
    """The lockout guard (flags) and one live session per account, across processes."""

    # --- account flags (lockout guard) --------------------------------------------------------

    def flag_account(
        self, portal: str, account: str, flag: str, reason: str, run_id: str | None
    ) -> None:
        """Stop every use of an account until a person clears it (`creds reset-lock`)."""
        with self._tx() as conn:
            conn.execute(
                account_flags.delete().where(
                    account_flags.c.portal == portal, account_flags.c.account == account
                )
            )
            conn.execute(
                insert(account_flags).values(
                    portal=portal,
                    account=account,
                    flag=flag,
                    reason=reason,
                    since=utcnow(),
                    run_id=run_id,
                )
            )

    def flagged_accounts(self, portal: str | None = None) -> list[AccountFlag]:
        stmt = select(account_flags).order_by(account_flags.c.portal, account_flags.c.account)
        if portal is not None:
            stmt = stmt.where(account_flags.c.portal == portal)
        with self._tx() as conn:
            return [AccountFlag.of(r) for r in conn.execute(stmt).mappings()]

    def clear_account_flags(self, portal: str, account: str | None = None) -> int:
        stmt = account_flags.delete().where(account_flags.c.portal == portal)
        if account is not None:
            stmt = stmt.where(account_flags.c.account == account)
        with self._tx() as conn:
            return conn.execute(stmt).rowcount

    # --- account sessions (one live login per account, across processes) ---------------------

    def lease_account(
        self,
        portal: str,
        account: str,
        holder: str,
        run_id: str | None,
        seconds: float,
        *,
        portal_limit: int | None = None,
    ) -> AccountLease:
        """Take the account for ``holder`` unless a live holder has it. A lapsed lease, or
        one held by a dead process on this node, is taken over.

        ``portal_limit``: refuse while that many of the portal's other accounts are held live,
        by anyone, this holder's own other sessions included (the portal's ``max_sessions``,
        across every process and machine)."""
        now = utcnow()
        expires = now + timedelta(seconds=seconds)
        where = (account_sessions.c.portal == portal, account_sessions.c.account == account)
        with self._tx() as conn:
            if conn.dialect.name == "postgresql":  # one leaser per portal at a time
                conn.execute(
                    select(func.pg_advisory_xact_lock(func.hashtext(f"payerbot-lease:{portal}")))
                )
            if portal_limit is not None:
                held = conn.execute(
                    select(account_sessions.c.holder, account_sessions.c.holder_run).where(
                        account_sessions.c.portal == portal,
                        account_sessions.c.account != account,
                        account_sessions.c.holder.is_not(None),
                        account_sessions.c.lease_expires_at >= now,
                    )
                ).all()
                live = [r for r in held if not self._holder_dead(r.holder)]
                if len(live) >= portal_limit:
                    return AccountLease(False, live[0].holder, live[0].holder_run)
            row = (
                conn.execute(select(account_sessions).where(*where).with_for_update())
                .mappings()
                .first()
            )
            if row is None:
                conn.execute(
                    insert(account_sessions).values(
                        portal=portal,
                        account=account,
                        holder=holder,
                        holder_run=run_id,
                        lease_expires_at=expires,
                    )
                )
                return AccountLease(True, holder, run_id)
            current = row["holder"]
            free = (
                current is None
                or current == holder
                or row["lease_expires_at"] is None
                or row["lease_expires_at"] < now
                or self._holder_dead(current)
            )
            if not free:
                return AccountLease(False, current, row["holder_run"])
            conn.execute(
                update(account_sessions)
                .where(*where)
                .values(holder=holder, holder_run=run_id, lease_expires_at=expires)
            )
        return AccountLease(True, holder, run_id)

    def renew_account_leases(self, holder: str, seconds: float) -> int:
        with self._tx() as conn:
            return conn.execute(
                update(account_sessions)
                .where(account_sessions.c.holder == holder)
                .values(lease_expires_at=utcnow() + timedelta(seconds=seconds))
            ).rowcount

    def release_account(self, portal: str, account: str, holder: str) -> None:
        with self._tx() as conn:
            conn.execute(
                update(account_sessions)
                .where(
                    account_sessions.c.portal == portal,
                    account_sessions.c.account == account,
                    account_sessions.c.holder == holder,
                )
                .values(holder=None, holder_run=None, lease_expires_at=None)
            )

    def note_login(self, portal: str, account: str, password_days_left: int | None) -> None:
        """Remember a login, and the password-expiry notice the portal showed with it."""
        now = utcnow()
        values: dict[str, datetime | int] = {"last_login_at": now}
        if password_days_left is not None:
            values |= {"password_days_left": password_days_left, "password_notice_at": now}
        with self._tx() as conn:
            done = conn.execute(
                update(account_sessions)
                .where(account_sessions.c.portal == portal, account_sessions.c.account == account)
                .values(**values)
            ).rowcount
            if not done:
                conn.execute(
                    insert(account_sessions).values(portal=portal, account=account, **values)
                )

    def account_sessions(self, portal: str | None = None) -> list[AccountSession]:
        """Every account the bot has used: holder (if its lease is live), last login,
        password notice. A lapsed or dead holder is reported as none."""
        stmt = select(account_sessions).order_by(
            account_sessions.c.portal, account_sessions.c.account
        )
        if portal is not None:
            stmt = stmt.where(account_sessions.c.portal == portal)
        now = utcnow()
        with self._tx() as conn:
            rows = [AccountSession.of(r) for r in conn.execute(stmt).mappings()]
        return [
            dataclasses.replace(row, holder=None, holder_run=None)
            if row.holder
            and (
                row.lease_expires_at is None
                or row.lease_expires_at < now
                or self._holder_dead(row.holder)
            )
            else row
            for row in rows
        ]
