"""Follow-ups: rules over answers, the specialists' queue, denial triage."""
