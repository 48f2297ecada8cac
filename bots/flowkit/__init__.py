"""The flow kit: the PortalFlow extension point (``flow``), the page readers every flow
shares (``pages``), the stay-on-the-view helpers (``views``: open a search view only when
off it, fill and submit, wait for this question's answer, read a region at once), strict
word maps (``words``), the one error-page classifier (``error_pages``) and the read-only
guard (``readonly``: what a flow may send, and ``portal_request`` for a portal's API)."""
