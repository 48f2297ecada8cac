"""Payer portal flows: one module per portal, each a registered PortalFlow subclass."""
