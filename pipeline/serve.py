"""--serve: a local page where a learner draws a digit and watches the network read it.

The page is the plain files in `web/` beside this module (HTML, JavaScript modules, CSS;
nothing fetched from the internet). This module serves them with the standard library's
ThreadingHTTPServer, and the page's JSON API, which the page and the tests call: GET and POST
/api/... as page.py lists them, answered by `Page.reply` (the notebook's widget asks the same
through the kernel), and GET /api/live's Server-Sent Events while the network trains.

A bad request gets a 4xx answer with {"error": "one line"} and the server keeps serving.
"""
from __future__ import annotations

import ipaddress
import json
import select
import socket
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from torch import nn

from . import interrupts
from .answers import BadRequest
from .errors import UserError
from .page import ASKED, WEB, Page, make_page

MAX_BODY = 4 * 2**20  # bytes: a phone photo of a digit fits, a flood does not
STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml"}

# ----------------------------------------------------------------------------- the server

class Busy:
    """The requests being answered now; at shutdown, wait for them, and answer no new ones.

    A request still inside PyTorch when the interpreter exits can abort the process
    ("terminate called without an active exception"): a stopping server lets them finish."""

    def __init__(self) -> None:
        self.count, self.closing = 0, False
        self.changed = threading.Condition()

    def __enter__(self) -> None:
        with self.changed:
            if self.closing:
                raise BadRequest(503, "the server is stopping")
            self.count += 1

    def __exit__(self, *exc: Any) -> None:
        with self.changed:
            self.count -= 1
            self.changed.notify_all()

    def close(self, timeout: float) -> None:
        with self.changed:
            self.closing = True
            self.changed.wait_for(lambda: self.count == 0, timeout)


class Server(ThreadingHTTPServer):
    """The standard library's threaded server, with room for many clients at once and quiet
    about clients that go away."""
    request_queue_size = 128  # the listen backlog (socketserver's is 5)
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, page: Page) -> None:
        super().__init__(address, handler)
        self.page = page
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)  # start()

    def start(self) -> None:
        self.thread.start()

    def wait(self) -> None:
        """Until Ctrl-C (or SIGTERM), which stops the server once the requests being
        answered have finished."""
        try:
            while self.thread.is_alive():
                self.thread.join(0.5)
                interrupts.raise_noted()
        finally:
            self.close()

    def close(self) -> None:
        with interrupts.deferred_interrupt():  # a second Ctrl-C waits for the answers too
            if self.page.live:
                self.page.live.close()  # the event streams end first
            self.shutdown()
            self.RequestHandlerClass.busy.close(timeout=10)
            self.server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, OSError):  # a client that hung up, reset or stalled: its loss
            return
        print(f"serve: a request from {client_address[0]} failed: {type(error).__name__}: "
              f"{error}", file=sys.stderr, flush=True)


class Handler(BaseHTTPRequestHandler):
    server_version = "lecture10/1"
    timeout = 30  # seconds a client may stall mid-request before it is dropped
    page: Page
    static: dict[str, Path]
    hosts: frozenset[str]  # the names a Host header may give for this server
    busy: Busy

    def log_message(self, format: str, *args: Any) -> None:  # quiet: one line at start only
        pass

    def answer(self, status: int, body: bytes, kind: str, headers: dict | None = None) -> None:
        self.send_response(status)
        for key, value in {"Content-Type": kind, "Content-Length": str(len(body)),
                           "Cache-Control": "no-store", **(headers or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def answer_json(self, status: int, obj: Any, headers: dict | None = None) -> None:
        self.answer(status, json.dumps(obj, allow_nan=False).encode(), "application/json",
                    headers)

    def fail(self, status: int, message: str, headers: dict | None = None) -> None:
        self.answer_json(status, {"error": message}, headers)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (a bad request line, a URL or header too long) as JSON,
        with a status line even where the request line was too garbled to say its version."""
        self.close_connection = True
        if self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.0"
        self.fail(code, message or self.responses.get(code, ("error",))[0])

    def respond(self, route: Any) -> None:
        """Run `route`, turning every failure into the JSON error the API promises."""
        try:
            self.check_host()
            with self.busy:
                route()
        except BadRequest as e:
            self.fail(e.status, str(e))
        except OSError:
            raise  # the client went away: Server.handle_error stays quiet
        except Exception as e:  # a bug of ours: one line here and for the client
            print(f"serve: {self.command} {self.path[:200]} failed: {type(e).__name__}: {e}",
                  file=sys.stderr, flush=True)
            self.fail(500, f"the server could not answer ({type(e).__name__})")

    def check_host(self) -> None:
        """Only requests that name this server: a page elsewhere that rebinds its own name
        to this address (DNS rebinding) sends its own name, and is refused."""
        host = self.headers.get("Host")
        if host is None:
            return  # not from a browser (HTTP/1.0 clients may leave it out)
        name = urllib.parse.urlsplit(f"//{host}").hostname or ""
        if not (name in self.hosts or is_address(name)):
            raise BadRequest(403, f"Host {host[:100]!r} is not this server; open the address "
                                  f"it printed")

    def do_GET(self) -> None:
        self.respond(self.get)

    def get(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        if path == "/api/live":
            return self.live_stream()
        if path.startswith("/api/"):
            return self.answer_json(200, self.page.reply(path))
        file = self.static.get(path)  # only the files in web/, by their exact names
        if file is None:
            raise BadRequest(404, f"no such page: {path[:200]}")
        self.answer(200, file.read_bytes(), STATIC_TYPES[file.suffix])

    def live_stream(self) -> None:
        """GET /api/live: the run's events as Server-Sent Events, until it is over."""
        if self.page.live is None:
            raise BadRequest(404, "nothing is training here: these are trained weights")
        self.send_response(200)
        for key, value in {"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                           "X-Accel-Buffering": "no"}.items():
            self.send_header(key, value)
        self.end_headers()
        self.close_connection = True
        if self.command == "HEAD":
            return
        self.page.live.stream(self.wfile.write, self.gone)

    def gone(self) -> bool:
        """The client has closed the connection (nothing more comes after its GET)."""
        readable, _, _ = select.select([self.connection], [], [], 0)
        try:
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def do_POST(self) -> None:
        self.respond(self.post)

    def post(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        body = {} if path in ASKED else self.read_json()  # pause, continue, save: none
        self.answer_json(200, self.page.reply(path, body))

    def read_json(self) -> dict[str, Any]:
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise BadRequest(411, "a POST needs a Content-Length") from None
        if length < 0 or length > MAX_BODY:
            self.close_connection = True  # the body is not read
            raise BadRequest(413, f"the body is {length} bytes; at most {MAX_BODY}")
        raw = self.rfile.read(length)
        if len(raw) < length:
            self.close_connection = True
            raise BadRequest(400, f"the body ended after {len(raw)} of {length} bytes")

        def no_constant(name: str) -> None:
            raise BadRequest(400, f"{name} is not a number JSON allows")

        try:
            body = json.loads(raw, parse_constant=no_constant)
        except (ValueError, RecursionError):
            raise BadRequest(400, "the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise BadRequest(400, "the body must be a JSON object")
        return body

    def refuse(self) -> None:
        self.fail(405, f"{self.command} is not allowed; use GET or POST", {"Allow": "GET, POST"})

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = refuse

    def do_HEAD(self) -> None:
        self.do_GET()


def is_address(name: str) -> bool:
    """An IP address rather than a name (a rebinding page cannot make the browser send one)."""
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


def is_local(host: str) -> bool:
    """Whether --host keeps the page on this machine."""
    if host == "localhost":
        return True
    return is_address(host) and ipaddress.ip_address(host).is_loopback


def host_names(host: str) -> frozenset[str]:
    """The names a Host header may use for a server on --host `host`."""
    names = {"localhost", host.strip("[]")}
    if not is_local(host):  # reachable from elsewhere: by this machine's own names too
        names |= {socket.gethostname(), socket.getfqdn()}
    return frozenset(n.lower() for n in names)


def static_files() -> dict[str, Path]:
    """URL path -> file, for the files in web/ (no folders, nothing else on disk)."""
    files = {f"/{f.name}": f for f in WEB.iterdir() if f.is_file() and f.suffix in STATIC_TYPES}
    files["/"] = WEB / "index.html"
    files["/favicon.ico"] = WEB / "favicon.svg"  # what a browser asks for unprompted
    return files


def make_server(model: nn.Module, network: str, host: str, port: int,
                training: bool = False, compare: tuple[str, nn.Module] | None = None,
                pen_digits: str | None = None) -> Server:
    """The server of `model`'s page (page.make_page says what the arguments ask)."""
    page = make_page(model, network, training, compare, pen_digits)
    handler = type("BoundHandler", (Handler,), {
        "page": page, "static": static_files(), "hosts": host_names(host), "busy": Busy()})
    try:
        return Server((host, port), handler, page)
    except OSError as e:
        raise UserError(f"--serve: cannot listen on {host}:{port} ({e.strerror or e})") from None
    except OverflowError as e:  # a port the OS cannot take
        raise UserError(f"--serve: cannot listen on {host}:{port} ({e})") from None


def start(model: nn.Module, network: str, host: str, port: int,
          training: bool = False, compare: tuple[str, nn.Module] | None = None,
          pen_digits: str | None = None) -> Server:
    """The server, answering in its own thread; its address printed."""
    server = make_server(model, network, host, port, training, compare, pen_digits)
    shown = f"[{host}]" if ":" in host else host
    if not is_local(host):
        print(f"warning: --host {host} lets other machines open this page (no password, no "
              f"encryption); the default 127.0.0.1 keeps it on this machine", file=sys.stderr,
              flush=True)
    print(f"Serving {network} at http://{shown}:{server.server_address[1]}/ (Ctrl-C stops it)",
          flush=True)
    server.start()
    return server
