"""The flow kit: the PortalFlow extension point and the page readers every flow shares."""
