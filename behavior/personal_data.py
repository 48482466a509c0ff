"""Key rotation for the personal data stored encrypted (customers' email and name: see ecomsight.crypto)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction

from ecomsight.crypto import personal_reencrypt

BATCH = 5_000


@dataclass(frozen=True)
class RotationResult:
    customers: int  # rows read
    rewritten: int  # rows whose email or name was re-encrypted under the first key (or encrypted at last)


def personal_data_rotate(*, batch_size: int = BATCH) -> RotationResult:
    """Re-encrypt every customer's email and name under the first of PERSONAL_DATA_KEYS (values under an older
    key, and any stored before encryption was on). Batches of `batch_size` rows, each its own transaction, so
    it can run beside the app and be run again (values already under the first key are skipped). Afterwards
    the older keys can be removed from PERSONAL_DATA_KEYS."""
    last = read = rewritten = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT id, email, name FROM behavior_customer WHERE id > %s ORDER BY id LIMIT %s",
                           [last, batch_size])
            rows = cursor.fetchall()
            if not rows:
                break
            changes = []
            for pk, email, name in rows:
                new_email, new_name = personal_reencrypt(email), personal_reencrypt(name)
                if (new_email, new_name) != (email, name):
                    changes.append((new_email, new_name, pk))
            if changes:
                cursor.executemany("UPDATE behavior_customer SET email = %s, name = %s WHERE id = %s", changes)
        read += len(rows)
        rewritten += len(changes)
        last = rows[-1][0]
    return RotationResult(customers=read, rewritten=rewritten)
