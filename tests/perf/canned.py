"""A canned-answer HTTP server: every request, whatever it asks, gets the same small 200 answer.

    python -m tests.perf.canned --port P

The cheapest server this machine can run (one asyncio event loop, no framework, keep-alive): the
benchmark sends it the same load as the routes it measures, so the load generator's own ceiling
is visible next to them. It reads each request's headers and ``Content-Length`` body and answers
in order; it understands nothing else (no chunked bodies), which is all the load generator sends.
"""

from __future__ import annotations

import argparse
import asyncio

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


class Canned(asyncio.Protocol):
    """One connection: answer each complete request with ANSWER."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start with an empty buffer."""
        self.transport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        """Answer every complete request in the buffer."""
        self.buffer += data
        answers = 0
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            length = 0
            for line in self.buffer[:end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip() or 0)
            if len(self.buffer) < end + 4 + length:
                break
            self.buffer = self.buffer[end + 4 + length:]
            answers += 1
        if answers:
            self.transport.write(ANSWER * answers)  # type: ignore[attr-defined]


async def serve(host: str, port: int) -> None:
    """Serve until killed."""
    server = await asyncio.get_running_loop().create_server(Canned, host, port, backlog=512)
    async with server:
        await server.serve_forever()


def main() -> None:
    """Parse --host/--port and serve."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
