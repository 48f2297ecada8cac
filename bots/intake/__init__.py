"""Intake: worklists (CSV/XLSX) into validated questions, bad rows reported and none lost."""
