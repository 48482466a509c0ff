"""Customers' email gets its blind index (ecomsight.crypto.email_index), and the deterministic tokens stored
until now (IV = HMAC of the value, timestamp 0) become standard Fernet tokens with random IVs. Stored rows are
filled in batches of 5,000 (each row read once: email re-encrypted if needed, index computed); a re-run skips
rows already right. Reversing drops the index column (the new tokens still decrypt with the same keys)."""

from django.db import migrations, models

BATCH = 5_000


def fill_index(apps, schema_editor):
    from ecomsight.crypto import email_index, personal_decrypt, personal_reencrypt

    last = 0
    with schema_editor.connection.cursor() as cursor:
        while True:
            cursor.execute("SELECT id, email, name, email_index FROM behavior_customer WHERE id > %s "
                           "ORDER BY id LIMIT %s", [last, BATCH])
            rows = cursor.fetchall()
            if not rows:
                break
            changes = []
            for pk, email, name, index in rows:
                new_email, new_name = personal_reencrypt(email), personal_reencrypt(name)
                new_index = email_index(personal_decrypt(new_email))
                if (new_email, new_name, new_index) != (email, name, index):
                    changes.append((new_email, new_name, new_index, pk))
            if changes:
                cursor.executemany("UPDATE behavior_customer SET email = %s, name = %s, email_index = %s "
                                   "WHERE id = %s", changes)
            last = rows[-1][0]


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0004_shop_setting_bounds"),
        ("behavior", "0012_pendingupload"),
    ]

    operations = [
        migrations.AddField(
            model_name="customer",
            name="email_index",
            field=models.CharField(blank=True, db_default="", default="", editable=False, max_length=64),
        ),
        migrations.AddIndex(
            model_name="customer",
            index=models.Index(fields=["shop", "email_index"], name="customer_shop_email_index"),
        ),
        migrations.RunPython(fill_index, migrations.RunPython.noop),
    ]
