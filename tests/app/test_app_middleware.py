"""The server's WSGI layer, without a server: the access log and predictions one at a time."""

from __future__ import annotations

import os
import threading
import time

import pytest

from app.server import AccessLog, one_at_a_time


class Body:
    """A WSGI body that remembers being closed."""

    def __init__(self, chunks):
        self.chunks = chunks
        self.closed = False

    def __iter__(self):
        return iter(self.chunks)

    def close(self):
        self.closed = True


def served(app, environ):
    """Call ``AccessLog(app)`` as a server would; return (status, body, the log line)."""
    read, write = os.pipe()
    try:
        seen = []
        body = AccessLog(app, fd=write)(
            environ, lambda status, headers, exc=None: seen.append(status)
        )
        return seen[0], body, os.read(read, 65536).decode()
    finally:
        os.close(read)
        os.close(write)


ENVIRON = {
    "REMOTE_ADDR": "10.0.0.1",
    "REQUEST_METHOD": "GET",
    "PATH_INFO": "/predict",
    "QUERY_STRING": "msg=Hi",
    "SERVER_PROTOCOL": "HTTP/1.1",
}


def test_a_line_per_request_with_status_bytes_and_time():
    body = Body([b'{"a"', b": 1}"])

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "8")])
        return body

    status, sent, line = served(app, ENVIRON)
    assert status == "200 OK"
    assert sent == [b'{"a": 1}']  # one piece for granian
    assert body.closed  # the app's own body was closed
    assert line.endswith("\n")
    assert line.count("\n") == 1
    assert line.startswith('10.0.0.1 - "GET /predict?msg=Hi HTTP/1.1" 200 8 ')
    assert line.endswith('ms "-"\n')


def test_a_body_without_a_content_length_is_passed_on_as_it_is():
    body = Body([b"a", b"b"])

    def app(environ, start_response):
        start_response("200 OK", [])
        return body

    _, sent, line = served(app, ENVIRON)
    assert sent is body
    assert not body.closed  # the server closes it once sent
    assert " 200 - " in line


@pytest.mark.parametrize(
    ("path", "query", "logged"),
    [
        ("/a b\nc", "", "/a%20b%0Ac"),
        ("/\xff", "", "/%FF"),  # WSGI's latin-1 string for the byte 0xff
        ('/"', "x=1 2", "/%22?x=1%202"),
        ("/ok", "x=%41&y=b+c", "/ok?x=%41&y=b+c"),
    ],
)
def test_paths_and_queries_are_logged_percent_encoded_as_one_token(path, query, logged):
    def app(environ, start_response):
        start_response("404 NOT FOUND", [("Content-Length", "0")])
        return []

    _, _, line = served(app, {**ENVIRON, "PATH_INFO": path, "QUERY_STRING": query})
    assert f'"GET {logged} HTTP/1.1" 404 0 ' in line


def test_an_app_that_raises_is_logged_as_a_500_and_the_error_goes_on():
    def app(environ, start_response):
        raise RuntimeError("boom")

    read, write = os.pipe()
    try:
        with pytest.raises(RuntimeError, match="boom"):
            AccessLog(app, fd=write)(ENVIRON, lambda *a: None)
        assert '"GET /predict?msg=Hi HTTP/1.1" 500 - ' in os.read(read, 65536).decode()
    finally:
        os.close(read)
        os.close(write)


def test_a_broken_stdout_does_not_fail_the_request():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    read, write = os.pipe()
    os.close(read)  # writing now fails with EPIPE, as to a log collector that has gone
    try:
        assert AccessLog(app, fd=write)(ENVIRON, lambda *a: None) == [b"ok"]
    finally:
        os.close(write)


def test_predictions_run_one_at_a_time():
    running, most = [], []

    def model(msg):
        running.append(msg)
        most.append(len(running))
        time.sleep(0.02)
        running.remove(msg)
        return msg

    predict = one_at_a_time(model)
    threads = [threading.Thread(target=predict, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert max(most) == 1
    assert predict("x") == "x"
