"""The console's login rules without a browser: the throttle's policy on a fake clock, the
local-only redirect targets, and sessions in the store (SQLite and PostgreSQL) that logout,
a new password and removing the user end."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from bots.interfaces.console import users
from bots.interfaces.console.base import safe_next
from bots.interfaces.console.throttle import LoginThrottle, Refusal
from bots.settings import ConsoleSettings
from bots.store import Store


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


POLICY = ConsoleSettings(
    login_free_failures=3,
    login_delay_seconds=1,
    login_max_delay_seconds=8,
    login_lock_after=10,
    login_lock_seconds=300,
)


def fail(throttle: LoginThrottle, user: str, address: str) -> None:
    assert throttle.attempt(user, address) is None
    throttle.failed(address)


def test_the_delay_doubles_after_the_free_failures_up_to_the_longest():
    clock = Clock()
    throttle = LoginThrottle(POLICY, clock)
    waits = []
    for n in range(9):  # a guesser on a new address each time: the user name's delay
        address = f"10.0.0.{n}"
        refused = throttle.attempt("dana", address)
        waits.append(refused.seconds if refused else 0.0)
        if refused:
            assert not refused.locked
            clock.now += refused.seconds + 0.001  # waits as told, and is then heard
            assert throttle.attempt("dana", address) is None
        throttle.failed(address)
    assert waits == [0, 0, 0, 1, 2, 4, 8, 8, 8]


def test_hammering_locks_the_address_even_for_the_right_password_until_the_lock_ends():
    clock = Clock()
    throttle = LoginThrottle(POLICY, clock)
    for _ in range(3):
        fail(throttle, "dana", "10.0.0.9")
    answers = [throttle.attempt("dana", "10.0.0.9") for _ in range(17)]
    assert all(a is not None for a in answers)
    assert [a.locked for a in answers if a] == [False] * 6 + [True] * 11
    assert [a.began for a in answers if a].count(True) == 1
    # refused while locked, unchecked, whatever the password; the lock does not grow
    clock.now += 299
    assert throttle.attempt("dana", "10.0.0.9") == Refusal(locked=True, seconds=1.0)
    clock.now += 1
    assert throttle.attempt("dana", "10.0.0.9") is None
    assert answers[9] is not None and answers[9].message == (
        "Too many failed logins from this computer. Try again in 5 minutes."
    )
    assert answers[0] is not None and answers[0].message == (
        "Too many failed logins. Try again in 1 second."
    )


def test_a_stranger_costs_the_real_user_at_most_the_longest_delay_from_another_address():
    clock = Clock()
    throttle = LoginThrottle(POLICY, clock)
    for n in range(40):  # a guesser rotating addresses, each under the lock's count
        address = f"10.1.0.{n}"
        if throttle.attempt("dana", address) is None:
            throttle.failed(address)
        clock.now += 0.5
    desk = throttle.attempt("dana", "10.2.0.1")
    assert desk is not None and not desk.locked and desk.seconds <= 8
    clock.now += desk.seconds
    assert throttle.attempt("dana", "10.2.0.1") is None
    throttle.succeeded("dana", "10.2.0.1")
    assert throttle.attempt("dana", "10.2.0.1") is None, "a success clears the user's count"


def test_parallel_attempts_are_counted_before_any_password_is_checked():
    throttle = LoginThrottle(POLICY, Clock())
    answers = [throttle.attempt("dana", "10.0.0.9") for _ in range(12)]  # none answered yet
    assert answers[:3] == [None] * 3 and all(a is not None for a in answers[3:])


def test_a_quiet_address_is_forgotten_and_user_names_are_matched_without_case():
    clock = Clock()
    throttle = LoginThrottle(POLICY, clock)
    for _ in range(3):
        fail(throttle, "Dana", "10.0.0.9")
    assert throttle.attempt(" dana", "10.0.0.7") is not None
    clock.now += 301
    assert throttle.attempt("dana", "10.0.0.9") is None


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "/\r\n/evil.example",
        "/\x7f/evil.example",
        "javascript:alert(1)",
        " /queue",
        "queue",
        "",
        None,
    ],
)
def test_redirect_targets_from_a_request_are_refused_unless_local_paths(target):
    assert safe_next(target) == ""


@pytest.mark.parametrize("target", ["/queue", "/queue?mine=1&status=open", "/runs/r-1#items"])
def test_local_paths_are_kept(target):
    assert safe_next(target) == target


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = Store(store_url)
    users.add_user(store, "dana", "dana-specialist-pw", "specialist")
    users.add_user(store, "sam", "sam-supervisor-pw", "supervisor")
    yield store
    store.close()


IDLE = timedelta(minutes=15)


def test_sessions_live_in_the_store_until_logout_passwd_or_remove(store):
    dana = store.user("dana")
    sam = store.user("sam")
    assert dana is not None and sam is not None
    first, second = users.start_session(store, dana, IDLE), users.start_session(store, dana, IDLE)
    theirs = users.start_session(store, sam, IDLE)
    assert first != second
    assert users.session_user(store, first) == dana
    assert users.session_user(store, "made-up") is None
    users.end_session(store, first)  # logout ends that session only
    assert users.session_user(store, first) is None
    assert users.session_user(store, second) == dana

    users.change_password(store, "dana", "dana-new-password")
    assert users.session_user(store, second) is None
    assert users.authenticate(store, "dana", "dana-new-password") == dana
    assert users.session_user(store, theirs) == sam
    with pytest.raises(Exception, match="at least 12 characters"):
        users.change_password(store, "sam", "short")

    users.remove_user(store, "sam")
    assert users.session_user(store, theirs) is None
    assert store.user("sam") is None
    with pytest.raises(Exception, match="no console user named 'sam'"):
        users.remove_user(store, "sam")
    with pytest.raises(Exception, match="no console user named 'sam'"):
        users.change_password(store, "sam", "sam-new-password")


def test_the_store_keeps_only_a_hash_of_the_session_id_and_forgets_stale_ones(store):
    from sqlalchemy import select

    from bots.store.schema import console_sessions

    dana = store.user("dana")
    assert dana is not None
    old = users.start_session(store, dana, timedelta(seconds=-120))  # stale at once
    fresh = users.start_session(store, dana, timedelta(seconds=-120))  # forgets `old`
    with store.engine.connect() as conn:
        kept = conn.execute(select(console_sessions.c.id_hash)).scalars().all()
    assert len(kept) == 1 and fresh not in kept[0] and old not in kept[0]
    assert users.session_user(store, old) is None
