"""The sandbox on a real socket: a threaded WSGI server around :class:`soulsandbox.app.SandboxApp`.

:class:`SandboxServer` is what tests, the benchmark and the command line start. One
request per connection; the ``drop`` fault closes the socket without writing anything.
"""

from __future__ import annotations

import ipaddress
import socketserver
import sys
import threading
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer, make_server

from soulsandbox.app import DropConnection, make_app
from soulsandbox.config import SandboxConfig

__all__ = ["SandboxConfig", "SandboxServer"]

SOCKET_TIMEOUT_SECONDS = 15.0


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a hung client must not keep the process alive on shutdown
    allow_reuse_address = True

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall for seconds
        # without DNS; the name is only used for SERVER_NAME, so use the address as is.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), port
        self.setup_environ()


class _ServerHandler(ServerHandler):
    """wsgiref's handler, except that DropConnection writes nothing at all."""

    dropped = False

    def handle_error(self) -> None:
        if isinstance(sys.exc_info()[1], DropConnection):
            self.dropped = True
            return
        super().handle_error()


class _RequestHandler(WSGIRequestHandler):
    # Seconds a client may take for each read or write on its connection: a client that sends
    # half a request and waits cannot hold a thread, or the socket, for longer.
    timeout = SOCKET_TIMEOUT_SECONDS

    def handle(self) -> None:
        try:
            self._handle()
        except TimeoutError:
            self.close_connection = True  # the client went quiet: nothing more to say to it

    def _handle(self) -> None:
        """WSGIRequestHandler.handle with :class:`_ServerHandler`: one request per connection.

        After a drop, the socket is shut down and closed by the server with nothing
        written, so the client sees the connection end without an answer.
        """
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536:
            self.requestline = ""
            self.request_version = ""
            self.command = ""
            self.send_error(414)
            return
        if not self.parse_request():  # an error answer has been sent
            return
        handler = _ServerHandler(
            self.rfile, self.wfile, self.get_stderr(), self.get_environ(), multithread=False
        )
        handler.request_handler = self  # back-pointer for logging
        handler.run(self.server.get_app())
        if handler.dropped:
            self.close_connection = True
            self.log_request("DROP")


class _QuietHandler(_RequestHandler):
    def log_message(self, *args: object) -> None:
        pass


class _VerboseHandler(_RequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The method and path only: never headers, and never the query string (APIM
        # also accepts the key as ?subscription-key=, so a client might put it there).
        path = self.path.split("?", 1)[0]
        sys.stderr.write(f"{self.address_string()} {self.command} {path} {code}\n")


class SandboxServer:
    """The sandbox on a real socket. ``port=0`` picks a free port; see :attr:`url`."""

    def __init__(self, config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config or SandboxConfig()
        self.app, self.state = make_app(self.config)
        handler = _QuietHandler if self.config.quiet else _VerboseHandler
        self._httpd = make_server(
            host, port, self.app, server_class=_ThreadingWSGIServer, handler_class=handler
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        address = ipaddress.ip_address(host)
        # A wildcard bind is reachable on loopback; IPv6 literals need brackets in a URL.
        if address.is_unspecified:
            return f"http://127.0.0.1:{port}" if address.version == 4 else f"http://[::1]:{port}"
        return f"http://{host}:{port}" if address.version == 4 else f"http://[{host}]:{port}"

    def stats(self) -> dict:
        """What ``GET /_sandbox/stats`` shows, read in-process."""
        return self.state.stats()

    def configure(self, **changes: object) -> dict:
        """Change fault, webhook and timing settings in-process, like ``POST /_sandbox/faults``."""
        return self.state.update_settings(changes)

    def start(self) -> SandboxServer:
        """Serve in a daemon thread; returns self."""
        # A short poll interval makes stop() quick, which keeps test fixtures fast.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="soul-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until :meth:`stop` or KeyboardInterrupt; then close the socket."""
        try:
            self._httpd.serve_forever()
        finally:
            self.state.shutdown()
            self._httpd.server_close()

    def request_stop(self) -> None:
        """Make :meth:`serve_forever` return soon; safe in a signal handler (it does not wait)."""
        self.state.shutdown()  # ends slow answers' waits, so their threads finish too
        # shutdown() waits for the serving loop to end, so it must not run on the loop's own
        # thread (a signal handler runs on the main thread, which is the loop's).
        threading.Thread(target=self._httpd.shutdown, name="soul-sandbox-stop", daemon=True).start()

    def stop(self) -> None:
        """Stop serving, cancel pending webhooks and end slow answers' waits."""
        self.state.shutdown()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
