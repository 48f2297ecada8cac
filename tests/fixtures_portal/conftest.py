"""Fixtures for the mock-portal tests: the fixtures/ folder on sys.path, data set, test clients."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
if str(FIXTURES) not in sys.path:
    sys.path.insert(0, str(FIXTURES))

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette suggests httpx2; httpx is what the project uses
    from starlette.testclient import TestClient

from payerhub.app import create_app  # noqa: E402 - after the sys.path insert above
from portalkit.data import build_dataset  # noqa: E402 - after the sys.path insert above
from portalkit.knobs import Knobs  # noqa: E402 - after the sys.path insert above


@pytest.fixture(scope="session")
def dataset() -> dict[str, Any]:
    return build_dataset()


@pytest.fixture
def make_client(dataset: dict[str, Any]) -> Iterator[Callable[..., TestClient]]:
    """make_client(**knobs) -> a TestClient on a fresh PayerHub app (fresh sessions, counters)."""
    clients: list[TestClient] = []

    def make(**knobs: Any) -> TestClient:
        client = TestClient(create_app(dataset, Knobs(**knobs)))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


def account(dataset: dict[str, Any], name: str = "main") -> dict[str, Any]:
    return next(a for a in dataset["accounts"]["payerhub"] if a["account"] == name)


def sign_in(client: TestClient, dataset: dict[str, Any], name: str = "main") -> dict[str, Any]:
    """Password + TOTP, as the SPA does; returns the MFA answer."""
    acct = account(dataset, name)
    r = client.post(
        "/api/auth/login", json={"username": acct["username"], "password": acct["password"]}
    )
    assert r.status_code == 200, r.text
    assert r.json()["mfa_required"] is True
    code = pyotp.TOTP(acct["totp_seed"]).now()
    r = client.post("/api/auth/mfa", json={"challenge": r.json()["challenge"], "code": code})
    assert r.status_code == 200, r.text
    return dict(r.json())


@pytest.fixture
def signed_in(client: TestClient, dataset: dict[str, Any]) -> TestClient:
    sign_in(client, dataset)
    return client
