"""Key rotation for the personal data stored encrypted (customers' email and name: see ecomsight.crypto), and the
email's blind index kept beside it."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction

from ecomsight.crypto import email_index, personal_decrypt, personal_reencrypt

BATCH = 5_000


@dataclass(frozen=True)
class RotationResult:
    customers: int  # rows read
    rewritten: int  # rows whose email or name was re-encrypted under the first key (or encrypted at last), or
    # whose email index was recomputed (a new PERSONAL_DATA_INDEX_KEY)


def _rewrite(cursor, rows: list[tuple]) -> int:
    """Rewrite the rows (id, email, name, email_index) as they should be stored now: email and name under the
    first of PERSONAL_DATA_KEYS, the index under PERSONAL_DATA_INDEX_KEY. Returns how many rows changed."""
    changes = []
    for pk, email, name, index in rows:
        new_email, new_name = personal_reencrypt(email), personal_reencrypt(name)
        new_index = email_index(personal_decrypt(new_email))
        if (new_email, new_name, new_index) != (email, name, index):
            changes.append((new_email, new_name, new_index, pk))
    if changes:
        cursor.executemany("UPDATE behavior_customer SET email = %s, name = %s, email_index = %s WHERE id = %s",
                           changes)
    return len(changes)


def personal_data_rotate(*, batch_size: int = BATCH) -> RotationResult:
    """Re-encrypt every customer's email and name under the first of PERSONAL_DATA_KEYS (values under an older
    key, the deterministic tokens stored before, and any stored before encryption was on) and recompute every
    email index. Batches of `batch_size` rows, each its own transaction, so it can run beside the app and be run
    again (rows already right are skipped). Afterwards the older keys can be removed from PERSONAL_DATA_KEYS."""
    last = read = rewritten = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT id, email, name, email_index FROM behavior_customer WHERE id > %s "
                           "ORDER BY id LIMIT %s", [last, batch_size])
            rows = cursor.fetchall()
            if not rows:
                break
            changed = _rewrite(cursor, rows)
        read += len(rows)
        rewritten += changed
        last = rows[-1][0]
    return RotationResult(customers=read, rewritten=rewritten)
