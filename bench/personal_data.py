"""What encrypting customers' email and name at rest costs (ecomsight.crypto): per value, per at-risk page and
per export, in process (no database: the work added is the decryption of what the queries return and the
encryption of what imports write; the queries themselves do not change).

    python bench/personal_data.py [--rows 200000]

Prints the figures and ends with one JSON line."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000, help="customers in the export (default 200,000)")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecomsight.settings.test")
    import django

    django.setup()
    from ecomsight.crypto import _decrypted, personal_decrypt, personal_encrypt

    emails = [f"customer{i:07d}@example-shop.com" for i in range(args.rows)]
    names = [f"Firstname{i % 977} Lastname{i % 1543}" for i in range(args.rows)]
    started = time.perf_counter()
    tokens = [(personal_encrypt(e), personal_encrypt(n)) for e, n in zip(emails, names, strict=True)]
    encrypt_s = time.perf_counter() - started
    _decrypted.cache_clear()
    started = time.perf_counter()
    for email, name in tokens:
        personal_decrypt(email)
        personal_decrypt(name)
    decrypt_s = time.perf_counter() - started
    page = tokens[:50]
    for email, name in page:  # a page served before: its values are in the process's cache
        personal_decrypt(email), personal_decrypt(name)
    started = time.perf_counter()
    for _ in range(100):
        for email, name in page:
            personal_decrypt(email)
            personal_decrypt(name)
    cached_page_ms = (time.perf_counter() - started) / 100 * 1000
    per_value_us = decrypt_s / (2 * args.rows) * 1e6
    page_ms = per_value_us * 2 * 50 / 1000  # an at-risk page: 50 rows, email and name each
    result = {
        "rows": args.rows,
        "encrypt_us_per_value": round(encrypt_s / (2 * args.rows) * 1e6, 2),
        "decrypt_us_per_value": round(per_value_us, 2),
        "page_of_50_added_ms": round(page_ms, 3),
        "page_of_50_served_before_added_ms": round(cached_page_ms, 3),
        "export_added_s": round(decrypt_s, 2),
        "import_added_s_per_100k_customers": round(encrypt_s / args.rows * 100_000, 2),
    }
    for key, value in result.items():
        print(f"{key:>36}: {value}", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
