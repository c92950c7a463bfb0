"""Where the browser comes back to after an authorization code login: a one-shot HTTP
listener on the loopback interface (RFC 8252 7.3), or the URL pasted by hand when the
browser runs on another machine than mailbot."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit

_DONE = (
    b"<!doctype html><meta charset=utf-8><title>mailbot</title>"
    b"<p>mailbot has the answer of the sign-in. This window can be closed.</p>"
)


class RedirectCatcher:
    """Listens on ``127.0.0.1:port`` (0: a free port) for the one request that carries
    ``code`` or ``error``; :attr:`redirect_uri` names it as the app registration does
    (``host`` is "localhost" for Entra ID, "127.0.0.1" elsewhere)."""

    def __init__(self, host: str, port: int = 0) -> None:
        self._answers: queue.Queue[str] = queue.Queue()
        answers = self._answers
        listening: list[int] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                if "code" not in query and "error" not in query:
                    self.send_error(404)  # a favicon, a probe: not the answer
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(_DONE)))
                self.end_headers()
                self.wfile.write(_DONE)
                answers.put(f"http://{host}:{listening[0]}{self.path}")

            def log_message(self, format: str, *args: object) -> None:
                # The request line carries the authorization code: never logged.
                return

        self._server = HTTPServer(("127.0.0.1", port), Handler)
        self.port = int(self._server.server_address[1])
        listening.append(self.port)
        self.redirect_uri = f"http://{host}:{self.port}/"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="oauth-redirect", daemon=True
        )
        self._thread.start()

    def wait(self, timeout: float, pasted: Callable[[], str] | None = None) -> str | None:
        """The URL the browser came back to, or a line from ``pasted`` (standard input)
        that holds one; None after ``timeout`` seconds."""
        if pasted is not None:
            threading.Thread(target=self._read, args=(pasted,), daemon=True).start()
        try:
            return self._answers.get(timeout=timeout)
        except queue.Empty:
            return None

    def _read(self, pasted: Callable[[], str]) -> None:
        while True:
            line = pasted()
            if not line:  # end of input: only the browser can answer now
                return
            if "code=" in line or "error=" in line:
                self._answers.put(line.strip())
                return

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
