"""The web console (`payerbot serve`): single lookups, the follow-up queue, run logs."""
