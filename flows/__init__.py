"""Payer portal flows: one module per portal, each a registered PortalFlow subclass; a
flow's helper modules are underscore-prefixed (``_<portal>_pages.py``), never loaded as flows."""
