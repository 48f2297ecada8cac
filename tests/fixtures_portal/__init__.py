"""Tests of the mock payer portals in fixtures/ (API level, no browser)."""

from __future__ import annotations
