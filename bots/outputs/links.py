"""Links to the console from what is read elsewhere (the digest, mails): absolute URLs."""

from __future__ import annotations

from bots.settings import Settings

__all__ = ["console_url"]


def console_url(settings: Settings, path: str = "") -> str:
    """The console's address (``console.public_url``, else http://host:port) + ``path``."""
    public = settings.console.public_url
    if public:
        base = public.rstrip("/")
    else:
        host = settings.console.host
        if host in ("0.0.0.0", "::", ""):  # noqa: S104 - a bind-all address is no link target
            host = "127.0.0.1"
        base = f"http://{host}:{settings.console.port}"
    return base + path
