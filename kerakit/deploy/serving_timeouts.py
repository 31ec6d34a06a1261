"""A read timeout for ``kerakit serve``: a request must arrive whole within it.

uvicorn closes idle keep-alive connections, but a client that sends part of
its headers or body and then stops holds its connection (and, for a body,
a request handler) for as long as it likes. :class:`TimedH11Protocol` is
uvicorn's HTTP/1.1 protocol with one timer per request, armed when the
connection opens and after each response and cancelled once the request
(headers and body) is in; when it fires, the connection is closed.
"""

from __future__ import annotations

import os
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["DEFAULT_READ_TIMEOUT", "READ_TIMEOUT_ENV", "TimedH11Protocol"]

DEFAULT_READ_TIMEOUT = 30.0
#: How the parent tells every worker process the timeout, in seconds.
READ_TIMEOUT_ENV = "KERAKIT_SERVE_READ_TIMEOUT"


class TimedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, closing a connection whose request is not in on time.

    Example:
        >>> os.environ[READ_TIMEOUT_ENV] = "30"
        >>> # uvicorn.Config(app, http=TimedH11Protocol)
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read_timeout = float(os.environ.get(READ_TIMEOUT_ENV, DEFAULT_READ_TIMEOUT))
        self.read_timer: Any = None

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._request_in():
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may take in a pipelined request whole
        if not self._request_in() and not self.transport.is_closing():
            self._arm()

    def _request_in(self) -> bool:
        """Whether the client has sent its whole request (MUST_CLOSE: with Connection: close)."""
        import h11

        return self.conn.their_state in (h11.DONE, h11.MUST_CLOSE, h11.CLOSED)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self.read_timer = self.loop.call_later(self.read_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self.read_timer is not None:
            self.read_timer.cancel()
            self.read_timer = None

    def _too_slow(self) -> None:
        self.read_timer = None
        if not self.transport.is_closing():
            self.transport.close()  # the handler waiting on the body sees a disconnect
