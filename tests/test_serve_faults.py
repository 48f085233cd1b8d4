"""The --serve page's server under many clients, misbehaving clients and signals.

Every answer is the API's JSON error or a real answer; a client that goes away costs the
server nothing; a signal ends it with one line and the signal's status.
"""
from __future__ import annotations

import http.client
import importlib
import json
import signal
import socket
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import (ROOT, call, finish, limit, picture_body, readline, run, serving, spawn,
                      wait_until)

pytestmark = pytest.mark.slow  # python -m pytest --full


def address(server: str) -> tuple[str, int]:
    host, port = server.removeprefix("http://").split(":")
    return host, int(port)


def raw_exchange(server: str, data: bytes) -> tuple[int, dict]:
    """Send bytes as they are; the status and JSON body of the answer."""
    with socket.create_connection(address(server), timeout=limit(10)) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_sixty_four_clients_at_once_all_get_answers(server, trained):
    body = picture_body(trained["pictures"][7])
    barrier = threading.Barrier(64)

    def one(i: int) -> int:
        barrier.wait()  # all connect at the same moment
        return call(server + ("/api/predict" if i % 2 else "/api/info"),
                    body if i % 2 else None)[0]

    with ThreadPoolExecutor(max_workers=64) as pool:
        statuses = list(pool.map(one, range(64)))
    assert statuses == [200] * 64


@pytest.mark.parametrize("request_line,status", [
    (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", 414),  # a URL too long
    (b"NONSENSE\r\n\r\n", 400),  # a bad request line
    (b"GET /api/info HTTP/1.1\r\nContent-Length: x\r\n\r\n", 200),  # unread by a GET
    (b"POST /api/slide HTTP/1.1\r\nContent-Length: x\r\n\r\n", 411),
    (b"GET / HTTP/7.0\r\n\r\n", 505),  # a version http.server does not speak
    (b"GET / HTTP/1.1\r\nX: " + b"a" * 70000 + b"\r\n\r\n", 431),  # a header too long
    (b"GET / HTTP/1.1\r\n" + b"".join(b"X%d: 1\r\n" % i for i in range(150)) + b"\r\n", 431),
])
def test_http_servers_own_errors_are_the_apis_json(request_line, status, server):
    got, answer = raw_exchange(server, request_line)
    words = answer.get("error", "") if status != 200 else "simple_cnn"
    assert got == status and words and "\n" not in words, answer
    assert call(server + "/api/info")[0] == 200


@pytest.mark.parametrize("body,words", [
    ({"op": "conv", "input": [[1e308, 1e308], [1e308, 1e308]], "kernel": 2, "stride": 1,
      "padding": 0}, "overflows"),
    ({"op": "avg", "input": [[1.7e308] * 3] * 3, "kernel": 2, "stride": 1, "padding": 0},
     "overflows"),
    ({"op": "max", "input": [[10 ** 400, 1], [1, 1]], "kernel": 2, "stride": 1, "padding": 0},
     "too large"),
    ({"pixels": [[10 ** 400]]}, "too large"),
])
def test_numbers_that_overflow_a_float_get_a_400(body, words, server):
    path = "/api/predict" if "pixels" in body else "/api/slide"
    status, answer = call(server + path, body)
    assert status == 400 and words in answer["error"], answer


def test_a_client_that_hangs_up_mid_body_leaves_the_server_serving(server, trained, capsys):
    for _ in range(5):
        with socket.create_connection(address(server), timeout=limit(10)) as s:
            s.sendall(b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      b"Content-Length: 100000\r\n\r\n{\"image\": \"")
        with socket.create_connection(address(server), timeout=limit(10)) as s:  # a reset
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.sendall(b"POST /api/predict HTTP/1.1\r\nContent-Length: 10\r\n\r\n{")
    status, answer = call(server + "/api/predict", picture_body(trained["pictures"][7]))
    assert status == 200 and answer["digit"] == 7
    wait_until(lambda: not [t for t in threading.enumerate() if "process_request" in t.name],
               30, "the dropped requests' threads to finish")
    assert capsys.readouterr().err == ""  # no traceback, no line: the client's loss


@pytest.mark.parametrize("host,status", [
    ("127.0.0.1", 200), ("localhost:8000", 200), ("[::1]:80", 200), ("10.1.2.3", 200),
    ("evil.example:8000", 403), ("localhost.evil.example", 403), ("", 403)])
def test_only_requests_naming_this_server_are_answered(host, status, server):
    connection = http.client.HTTPConnection(*address(server), timeout=limit(10))
    connection.putrequest("GET", "/api/info", skip_host=True)
    connection.putheader("Host", host)
    connection.endheaders()
    response = connection.getresponse()
    answer = json.loads(response.read())
    assert response.status == status, answer
    if status == 403:
        assert "is not this server" in answer["error"]


def serve_process(trained, *flags: str) -> tuple[subprocess.Popen, str]:
    proc, url = serving([sys.executable, str(ROOT / "simple_cnn.py"), "--device", "cpu",
                         "--load", trained["weights"], "--serve", "--port", "0", *flags])
    return proc, url.rstrip("/")


@pytest.mark.parametrize("signum,status,words", [(signal.SIGTERM, 143, "terminated (SIGTERM)"),
                                                 (signal.SIGINT, 130, "interrupted")])
def test_a_signal_with_busy_clients_ends_with_one_line(signum, status, words, trained):
    proc, url = serve_process(trained)
    body = picture_body(trained["pictures"][7])
    stop, answered = threading.Event(), []

    def hammer() -> None:
        while not stop.is_set():
            try:
                answered.append(call(url + "/api/predict", body)[0])
            except OSError:
                pass  # the server has gone: expected at the end

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    wait_until(lambda: len(answered) >= 16, 60, "16 answers with 8 clients busy")
    proc.send_signal(signum)
    out, err = finish(proc, 60)
    stop.set()
    for t in threads:
        t.join()
    assert proc.returncode == status and err == f"stopped: {words}\n", err


@pytest.mark.parametrize("step", ["pipeline.flags.make_parser", "pipeline.flags.check_args",
                                  "pipeline.flags.resolve", "pipeline.run.pick_device",
                                  "pipeline.checkpoints.read", "pipeline.serve.make_server"])
def test_ctrl_c_at_each_step_of_starting_is_one_line(step, trained, monkeypatch, capsys):
    """From the first line of main() to the URL: a Ctrl-C at any step is one line, 130."""
    import simple_cnn

    module, name = step.rsplit(".", 1)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(importlib.import_module(module), name, interrupted)
    code, out, err = run(simple_cnn, capsys, "--load", trained["weights"], "--serve",
                         "--port", "0")
    assert code == 130 and err == "stopped: interrupted\n" and "Serving" not in out


STARTING = """
import contextlib, sys
sys.path.insert(0, {root!r})
import simple_cnn
from pipeline import interrupts
handled = interrupts.handled

@contextlib.contextmanager
def ready():  # the handlers in place: say so, then go on
    with handled():
        print("ready", flush=True)
        yield

interrupts.handled = ready
simple_cnn.main(sys.argv[1:])
"""


def test_ctrl_c_while_the_script_starts_is_one_line(trained):
    """A real Ctrl-C from the first line of the command line's main() (before it, while
    Python imports torch and the script imports pipeline/cli.py, a Ctrl-C is Python's own:
    docs/usage.md), while the network and the server are set up. "ready" is printed once the
    handlers are in place, so a busy machine cannot deliver the signal before main() runs."""
    proc = spawn([sys.executable, "-c", STARTING.format(root=str(ROOT)), "--device", "cpu",
                  "--load", trained["weights"], "--serve", "--port", "0"])
    assert readline(proc) == "ready\n"
    proc.send_signal(signal.SIGINT)
    out, err = finish(proc, 60)
    assert proc.returncode == 130 and err == "stopped: interrupted\n", (out, err)


def test_a_host_beyond_this_machine_is_said(trained):
    proc, url = serve_process(trained, "--host", "0.0.0.0")
    try:
        assert call(url + "/api/info")[0] == 200
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = finish(proc, 30)
    assert err.startswith("warning: --host 0.0.0.0 lets other machines open this page")
