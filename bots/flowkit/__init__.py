"""The flow kit: the PortalFlow extension point (``flow``), the page readers every flow
shares (``pages``), strict word maps (``words``) and the one error-page classifier
(``error_pages``)."""
