"""The mock portals' listening socket: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on
sockets made with IPPROTO_TCP. Without it every response's body waited for the client's
delayed ACK of its headers, ~40 ms a request at "0 ms latency", which hid most of the API
path's speed in the benchmarks."""

from __future__ import annotations

import asyncio
import socket

from fixtures.portalkit.server import bind
from tests.conftest import run_async


def test_the_listening_socket_is_tcp_so_accepted_connections_get_nodelay() -> None:
    sock = bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP

        async def accepted_nodelay() -> int:
            seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

            def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                conn = writer.get_extra_info("socket")
                seen.set_result(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                writer.close()

            server = await asyncio.start_server(connected, sock=sock)
            async with server:
                _reader, writer = await asyncio.open_connection(*sock.getsockname()[:2])
                value = await asyncio.wait_for(seen, 30)
                writer.close()
                return value

        assert run_async(accepted_nodelay()) != 0, "Nagle is on for the portal's connections"
    finally:
        sock.close()
