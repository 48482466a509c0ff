"""A local HTTP server that serves pictures (the suite never touches the network)."""

from __future__ import annotations

import csv
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from behavior.services import data_import
from tests.catalog.pictures import jpeg_bytes, padded, photo


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


@pytest.fixture
def image_settings(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.IMAGE_FETCH_ALLOW_PRIVATE = True  # the test server is on 127.0.0.1
    settings.IMAGE_FETCH_ATTEMPTS = 1
    settings.IMAGE_EMBEDDING_MODEL = "histogram"  # fast; the network is tested in tests/catalog/ml
    return settings


def products_csv(path, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["product_id", "title", "category", "image_url", "image_file"])
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def catalogue(shop, picture_server, tmp_path, image_settings):
    """Six products: a photo and its padded copy by URL, a photo and its re-encoded copy as files, a
    different photograph, a broken URL and a path that tries to leave the images directory."""
    images = tmp_path / "images"
    images.mkdir()
    cat, coffee, rocket = photo("chelsea"), photo("coffee"), photo("rocket")
    (images / "coffee.jpg").write_bytes(jpeg_bytes(coffee))
    (images / "coffee-copy.jpg").write_bytes(jpeg_bytes(coffee, quality=60))
    (tmp_path / "secret.jpg").write_bytes(jpeg_bytes(cat))
    rows = [
        {"product_id": "CAT", "title": "Cat", "category": "Pets",
         "image_url": picture_server.add("/cat.jpg", jpeg_bytes(cat))},
        {"product_id": "CAT-PAD", "title": "Cat on white", "category": "Pets",
         "image_url": picture_server.add("/cat-pad.jpg", jpeg_bytes(padded(cat)))},
        {"product_id": "COF", "title": "Coffee", "category": "Food", "image_file": "coffee.jpg"},
        {"product_id": "COF-2", "title": "Coffee again", "category": "Food", "image_file": "coffee-copy.jpg"},
        {"product_id": "ROCKET", "title": "Rocket", "category": "Space",
         "image_url": picture_server.add("/rocket.png", jpeg_bytes(rocket), type="image/png")},
        {"product_id": "GONE", "title": "Gone", "category": "Space", "image_url": picture_server.url("/gone.jpg")},
        {"product_id": "ESCAPE", "title": "Escape", "category": "Space", "image_file": "../secret.jpg"},
    ]
    data_import(shop=shop, kind="products", path=products_csv(tmp_path / "products.csv", rows))
    return {"images": images, "tmp": tmp_path, "server": picture_server}
