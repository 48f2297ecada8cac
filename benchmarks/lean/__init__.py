"""Lean reference page loops, one per bundled mock portal: the yardstick for payerbot's page
reading (`payerbot bench`, rows "lean page loop").

Written from scratch, without flows/ or bots/ code (only Playwright, pyotp and the standard
library, plus ``benchmarks.common`` for the job and outcome JSON): log in once per session,
stay on the search view, and for every question fill, submit, wait for the answer to *this*
question, read the fields in one round trip and check the shown identity (member ID and date
of birth) against the question's. An answer about somebody else counts as an error.

    python -m benchmarks.lean.payerhub JOB.json SESSIONS
    python -m benchmarks.lean.legacyportal JOB.json SESSIONS
    python -m benchmarks.lean.medicaidportal JOB.json SESSIONS
"""
