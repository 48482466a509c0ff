"""A local HTTP server that serves pictures (the suite never touches the network)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class PictureServer:
    """Routes: path → (status, content type, body, delay seconds, failures before success)."""

    def __init__(self):
        self.routes: dict[str, dict] = {}
        self.hits: dict[str, int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
                route = server.routes.get(self.path)
                if route is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                if server.hits[self.path] <= route.get("fail_first", 0):
                    self.send_response(503)
                    self.end_headers()
                    return
                if route.get("location"):
                    self.send_response(302)
                    self.send_header("Location", route["location"])
                    self.end_headers()
                    return
                body = route["body"]
                self.send_response(route.get("status", 200))
                self.send_header("Content-Type", route.get("type", "image/jpeg"))
                if not route.get("chunked"):
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if route.get("delay"):
                    time.sleep(route["delay"])
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def add(self, path: str, body: bytes = b"", **options) -> str:
        self.routes[path] = {"body": body, **options}
        return self.url(path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def picture_server():
    server = PictureServer()
    yield server
    server.close()
