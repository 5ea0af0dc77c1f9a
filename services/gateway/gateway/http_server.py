"""The gateway's HTTP/1.1 server protocol: uvicorn's h11 protocol with the limits api.md §5 asks of the
public port, which uvicorn itself does not enforce.

- A request head over `MAX_HEADER_BYTES` is answered 431 and the connection closed as soon as that
  many bytes are buffered: a client cannot make the gateway hold megabytes of headers.
- The whole head must arrive within the header read timeout, counted from its first byte (or from the
  connection's start); a client trickling a byte now and then does not restart it.
- While a request body is being received, a pause longer than the body idle timeout closes the
  connection (the app then sees the client gone).

Keep-alive idleness between requests stays uvicorn's `timeout_keep_alive`.
"""

import asyncio
import re

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

MAX_HEADER_BYTES = 16 * 1024
_END_OF_HEAD = re.compile(rb"\n\r?\n")  # h11 accepts bare LF line ends too
_TOO_LARGE = b'{"error": "Request headers too large.", "code": "headers_too_large"}'


class GuardedH11Protocol(H11Protocol):
    header_read_timeout: float = 10.0
    body_idle_timeout: float = 30.0
    max_header_bytes: int = MAX_HEADER_BYTES

    _read_timer: asyncio.TimerHandle | None = None
    _reading: str = ""  # "head", "body" or "" (no read deadline)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm("head", self.header_read_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        if self.conn.their_state is h11.IDLE and self._head_too_large():
            self._disarm()
            self._refuse_431()
            return
        super().handle_events()
        self._update_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._update_deadline()

    # --- deadlines --------------------------------------------------------------------------------

    def _update_deadline(self) -> None:
        if self.transport is None or self.transport.is_closing():
            self._disarm()
            return
        state = self.conn.their_state
        if state is h11.IDLE:
            # Between requests with nothing received, uvicorn's keep-alive timeout governs; once a byte
            # of the next head is in, its deadline runs (and is not restarted by later bytes).
            if self.conn.trailing_data[0]:
                if self._reading != "head":
                    self._arm("head", self.header_read_timeout)
            elif self._reading == "head" and self.cycle is not None:
                self._disarm()
        elif state is h11.SEND_BODY and not self.flow.read_paused:
            self._arm("body", self.body_idle_timeout)  # restarted by every piece of the body
        else:
            # The app is handling the request (or has not read what is buffered: the server stopped
            # reading, so the client cannot be blamed for not sending).
            self._disarm()

    def _arm(self, reading: str, seconds: float) -> None:
        self._disarm()
        self._reading = reading
        self._read_timer = self.loop.call_later(seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
        self._read_timer, self._reading = None, ""

    def _too_slow(self) -> None:
        self._read_timer, self._reading = None, ""
        if not self.transport.is_closing():
            self.logger.info("closing a connection that sent its request too slowly")
            self.transport.close()

    # --- oversized heads --------------------------------------------------------------------------

    def _head_too_large(self) -> bool:
        buffered = self.conn.trailing_data[0]
        if len(buffered) <= self.max_header_bytes:
            return False
        return _END_OF_HEAD.search(buffered, 0, self.max_header_bytes + 2) is None

    def _refuse_431(self) -> None:
        # Written as bytes: h11 has no request to answer yet (the head never completed).
        self.transport.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                             b"content-type: application/json\r\n"
                             b"x-content-type-options: nosniff\r\n"
                             b"content-length: " + str(len(_TOO_LARGE)).encode() + b"\r\n"
                             b"connection: close\r\n\r\n" + _TOO_LARGE)
        self.transport.close()


def guarded_protocol(*, header_read_timeout: float, body_idle_timeout: float) -> type[GuardedH11Protocol]:
    """The protocol class for `uvicorn.run(http=...)`, with these timeouts."""
    return type("GatewayH11Protocol", (GuardedH11Protocol,), {
        "header_read_timeout": header_read_timeout,
        "body_idle_timeout": body_idle_timeout,
    })
