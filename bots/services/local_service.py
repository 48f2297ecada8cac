"""The local lookup service: a running console or scheduler answers `payerbot lookup` from its
warm browser.

A Unix domain socket in the data folder (``<data_dir>/run/payerbot.sock``; the folder 0700,
the socket 0600): only the same OS user can ask, so no console login is needed and nothing
crosses the network. One JSON line asks, JSON lines answer:

- the CLI sends ``{"op": "lookup", "kind": ..., "values": {...}, "add_to_queue": bool}``
  (the desk's form fields, already checked by bots/intake/lookup_form.py; the service checks
  them again: it trusts no caller);
- the service says ``{"accepted": "console"}`` (or ``"scheduler"``) at once, then
  ``{"notice": ...}`` lines as the lookup goes (waiting for the batch's session...), then
  one of ``{"answer": {...}}`` (what `payerbot lookup --json` prints),
  ``{"refused": {field: sentence}}`` or ``{"failure": sentence, "authentication": bool}``.

One service per data folder: the first to bind the socket answers; another one starting
while it lives (a console next to a scheduler) says so in one log line and goes on without
it; a live service's socket is never removed. A socket file left by a killed service
refuses connections: the CLI then looks up in its own process, and the next service to
start removes the file. A service that accepts but never answers ends the CLI's wait with a
sentence saying so (``ServiceTimeout``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import stat
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bots.dates import local_today
from bots.files import private_dir
from bots.intake.lookup_form import Query, check_lookup
from bots.logs import get_logger
from bots.settings import Settings

log = get_logger("payerbot.service")

ACCEPT_SECONDS = 30.0
"""How long the CLI waits for a service to take its question (it says so at once)."""
FINISH_SECONDS = 30.0
"""How long a stopping service lets the lookups it took finish before it hangs up."""


def socket_path(settings: Settings) -> Path:
    """Where the data folder's service listens."""
    return settings.data_dir / "run" / "payerbot.sock"


def answer_seconds(settings: Settings) -> float:
    """How long the CLI waits for an answer after the last word from the service: a lookup
    may wait for the batch's session, then sign in and retry a slow portal; generous."""
    browser = settings.browser
    page = (browser.navigation_timeout_ms + browser.action_timeout_ms) / 1000
    return settings.sessions.borrow_wait_seconds + max(300.0, 6 * page)


# --- the service (inside the console's event loop) ---------------------------------------------

AnswerLookup = Callable[[Query, bool, Callable[[str], None], str], Awaitable[dict[str, Any]]]
"""(question, add_to_queue, notice, who asked) -> the answer as `payerbot lookup --json`
prints it (without ``answered_by``). Raises PayerbotError with its sentence."""


class LocalService:
    """The socket a long-lived payerbot process (the console, the scheduler) answers lookups
    on. ``log``: the logger its lines go to (the scheduler's own, so its log says them)."""

    def __init__(
        self, settings: Settings, answer: AnswerLookup, name: str, *, logger: Any = None
    ) -> None:
        self.settings = settings
        self.answer = answer
        self.name = name
        self.path = socket_path(settings)
        self.log = logger or log
        self._server: asyncio.AbstractServer | None = None
        self._inode: int | None = None
        self._asking: set[asyncio.Task[Any]] = set()

    async def start(self) -> bool:
        """Listen; False (and one warning naming who answers) when another live service has
        the data folder's socket, or the folder cannot be made private."""
        try:
            private_dir(self.path.parent)
            if not _clear_stale(self.path):
                if not stat.S_ISSOCK(self.path.lstat().st_mode):
                    raise OSError(0, f"{self.path} is a file of another kind; move it away")
                other = await _who_answers(self.path)
                self.log.warning(
                    f"{_named(other)} already answers command-line lookups for this data "
                    f"folder; this {self.name} goes on without answering them",
                    what="service.busy",
                )
                return False
            self._server = await asyncio.start_unix_server(self._client, path=str(self.path))
            os.chmod(self.path, 0o600)  # the folder is 0700 already: nobody else got in
            self._inode = self.path.stat().st_ino
        except OSError as exc:
            self.log.warning(
                f"command-line lookups cannot reach this {self.name}: its socket could not be "
                f"opened ({exc.strerror or 'an error of the system'})",
                what="service.no_socket",
            )
            return False
        self.log.info(
            f"the {self.name} answers command-line lookups on the data folder's socket",
            what="service.start",
        )
        return True

    async def close(self, finish_seconds: float = 0.0) -> None:
        """Stop taking questions and remove the socket (only ours: a newer service's file is
        left alone); lookups already taken get ``finish_seconds`` to answer, then the
        connection ends (the CLI says the service stopped before it answered)."""
        if self._server is None:
            return
        self._server.close()
        with contextlib.suppress(OSError):
            if self.path.stat().st_ino == self._inode:  # still ours, not a newer service's
                self.path.unlink()
        self._server = None
        if self._asking:
            _done, late = await asyncio.wait(set(self._asking), timeout=finish_seconds)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        started = time.monotonic()
        pid, uid = _peer(writer)
        task = asyncio.current_task()
        if task is not None:
            self._asking.add(task)
        try:
            if uid is not None and uid != os.getuid():
                return  # the folder's mode keeps others out; this is the belt to those braces
            line = await asyncio.wait_for(reader.readline(), ACCEPT_SECONDS)
            try:
                request = json.loads(line)
            except ValueError:
                request = None
            if not isinstance(request, dict):
                await _send(writer, {"failure": "The request was not a payerbot lookup."})
                return
            await _send(writer, {"accepted": self.name})
            if request.get("op") == "ping":
                return
            outcome = await self._lookup(request, writer, pid)
            self.log.info(
                f"command-line lookup (process {pid}): {outcome} in "
                f"{time.monotonic() - started:.1f} s",
                what="service.lookup",
            )
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            pass  # the CLI went away (Ctrl-C): its lookup, if any, ran to its end
        finally:
            if task is not None:
                self._asking.discard(task)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _lookup(
        self, request: Mapping[str, Any], writer: asyncio.StreamWriter, pid: int | None
    ) -> str:
        """Answer one lookup request; returns a few words for the log line (no PHI)."""
        from bots.errors import AuthenticationError, PayerbotError

        kind = str(request.get("kind") or "")
        raw = request.get("values")
        if not isinstance(raw, dict):
            raw = {}
        values = {str(k): None if v is None else str(v) for k, v in raw.items()}
        checked = check_lookup(self.settings, kind, values, local_today(self.settings.timezone))
        if checked.query is None:
            await _send(writer, {"refused": checked.problems})
            # the kind as asked goes to the log only when it is one payerbot knows
            named = kind if kind in ("eligibility", "claim_status") else "lookup"
            return f"{named} refused (bad input)"

        def notice(message: str) -> None:
            writer.write(_line({"notice": message}))

        try:
            who = f"command line, process {pid}" if pid is not None else "command line"
            shown = await self.answer(checked.query, bool(request.get("add_to_queue")), notice, who)
        except PayerbotError as exc:
            auth = isinstance(exc, AuthenticationError)
            await _send(writer, {"failure": str(exc), "authentication": auth})
            return f"{kind} could not finish ({exc.code()})"
        except Exception:
            self.log.exception("service.lookup_failed")
            await _send(
                writer,
                {
                    "failure": "The lookup could not finish: an error in payerbot (the service's "
                    "log has it).",
                    "authentication": False,
                },
            )
            return f"{kind} broke"
        await _send(writer, {"answer": shown})
        return (
            f"{kind} {shown.get('state')} (run {shown.get('run_id')}, item {shown.get('item_id')})"
        )


class ServiceThread:
    """A LocalService on an event loop of its own thread, for a process whose main thread is
    not asyncio's (the scheduler: APScheduler's threads and a wait for SIGTERM).
    ``on_close`` runs on that loop once the service has stopped (the kept browser closes)."""

    def __init__(self, service: LocalService, on_close: Callable[[], Awaitable[None]]) -> None:
        self.service = service
        self.on_close = on_close
        self.serving = False
        self._finish_seconds = FINISH_SECONDS
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(
            target=asyncio.run,
            args=(self._main(),),
            name=f"payerbot {service.name} lookups",
            daemon=True,  # a process that ends without stop() is not held up by it
        )

    def start(self, timeout: float = ACCEPT_SECONDS) -> bool:
        """Start listening; True when this process answers the data folder's lookups."""
        self._thread.start()
        self._ready.wait(timeout)
        return self.serving

    def stop(self, finish_seconds: float = FINISH_SECONDS) -> None:
        """Remove the socket, give the lookups taken ``finish_seconds``, run ``on_close``."""
        if self._thread.ident is None:
            return  # never started
        self._finish_seconds = finish_seconds
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop ended already
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(finish_seconds + ACCEPT_SECONDS)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            try:
                self.serving = await self.service.start()
            finally:
                self._ready.set()
            if self.serving:
                await self._stop.wait()
        finally:
            await self.service.close(self._finish_seconds)
            await self.on_close()


def _peer(writer: asyncio.StreamWriter) -> tuple[int | None, int | None]:
    """The asking process's id and user id (Linux SO_PEERCRED), or Nones."""
    sock = writer.get_extra_info("socket")
    option = getattr(socket, "SO_PEERCRED", None)
    if sock is None or option is None:
        return None, None
    try:
        pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, option, 12))
    except OSError:
        return None, None
    return pid, uid


def _line(message: Mapping[str, Any]) -> bytes:
    return (json.dumps(message, default=str) + "\n").encode()


async def _send(writer: asyncio.StreamWriter, message: Mapping[str, Any]) -> None:
    writer.write(_line(message))
    await writer.drain()


def _clear_stale(path: Path) -> bool:
    """True when ``path`` is free to listen on: absent, or a socket nobody answers on (a
    killed service's, removed here). False: a live service answers there, or it is not a
    socket (left alone)."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return True
    if not stat.S_ISSOCK(mode):
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(2)
        try:
            probe.connect(str(path))
        except (ConnectionRefusedError, FileNotFoundError):
            path.unlink(missing_ok=True)
            return True
        except OSError:
            return False
    return False


async def _who_answers(path: Path) -> str | None:
    """The name a live service at ``path`` gives ("console", "scheduler"), None when it does
    not say in time."""
    try:
        async with asyncio.timeout(2):
            reader, writer = await asyncio.open_unix_connection(str(path))
            try:
                writer.write(_line({"op": "ping"}))
                reply = json.loads(await reader.readline())
            finally:
                writer.close()
    except (OSError, TimeoutError, ValueError):
        return None
    name = reply.get("accepted") if isinstance(reply, dict) else None
    return name if isinstance(name, str) and name.isidentifier() else None


def _named(service: str | None) -> str:
    """ "a running payerbot console" / "another payerbot service": for a sentence."""
    return f"a running payerbot {service}" if service else "another payerbot service"


# --- the CLI's side ------------------------------------------------------------------------------


class ServiceTimeout(Exception):
    """The service took the question (or the connection) and said nothing for too long."""


@dataclass
class ServiceReply:
    """What a running service said: an answer, the input's problems, or a failure."""

    service: str
    answer: dict[str, Any] | None = None
    problems: dict[str, str] = field(default_factory=dict)
    failure: str | None = None
    authentication: bool = False


def ask(
    settings: Settings,
    kind: str,
    values: Mapping[str, str | None],
    add_to_queue: bool,
    *,
    notice: Callable[[str], None] | None = None,
    accept_seconds: float = ACCEPT_SECONDS,
    answer_after_seconds: float | None = None,
) -> ServiceReply | None:
    """Ask the data folder's running service; None when there is none (no socket, or a
    stale one nobody answers on): the caller looks up in its own process."""
    path = socket_path(settings)
    if not path.exists():
        return None
    quiet = answer_seconds(settings) if answer_after_seconds is None else answer_after_seconds
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(accept_seconds)
        try:
            sock.connect(str(path))
        except (ConnectionRefusedError, FileNotFoundError, PermissionError):
            return None  # a killed service's file, or not ours: look up here
        except TimeoutError:
            raise ServiceTimeout(_late("take the question", accept_seconds, None)) from None
        request: dict[str, Any] = {"op": "lookup", "kind": kind, "values": dict(values)}
        request["add_to_queue"] = add_to_queue
        waiting: tuple[str, float, str | None] = ("take the question", accept_seconds, None)
        try:
            sock.sendall(_line(request))
            stream = sock.makefile("rb")
            first = _read(stream)
            if first is None:
                return None  # closed without a word: not a service that answers lookups
            if "accepted" not in first:
                return ServiceReply(service="service", failure=str(first.get("failure")))
            service = str(first["accepted"])
            sock.settimeout(quiet)
            waiting = ("answer", quiet, service)
            while True:
                message = _read(stream)
                if message is None:
                    return ServiceReply(
                        service=service,
                        failure=f"The {service} stopped before it answered (see its log).",
                    )
                if "notice" in message:
                    if notice is not None:
                        notice(str(message["notice"]))
                    continue
                return ServiceReply(
                    service=service,
                    answer=message.get("answer"),
                    problems=dict(message.get("refused") or {}),
                    failure=message.get("failure"),
                    authentication=bool(message.get("authentication")),
                )
        except TimeoutError:
            raise ServiceTimeout(_late(*waiting)) from None
        except ConnectionResetError:
            return ServiceReply(service="service", failure="The payerbot service hung up.")


def _read(stream: Any) -> dict[str, Any] | None:
    line = stream.readline()
    if not line:
        return None
    message = json.loads(line)
    return message if isinstance(message, dict) else None


def _late(what: str, seconds: float, service: str | None) -> str:
    who = f"payerbot {service}" if service else "payerbot service (console or scheduler)"
    where = f"the {service}'s log" if service else "its log"
    return (
        f"The running {who} did not {what} within {max(1, round(seconds))} s. "
        f"Its lookup may still finish there; check {where}, or run this lookup in its own "
        "process with --no-service."
    )
