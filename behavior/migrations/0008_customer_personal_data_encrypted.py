"""Customers' email and name are stored encrypted (ecomsight.crypto): wider text columns, then every stored
value encrypted in batches (values already encrypted are left alone, so a re-run does nothing)."""

from django.db import migrations

import ecomsight.crypto

BATCH = 5_000


def encrypt_existing(apps, schema_editor):
    from ecomsight.crypto import is_token, personal_encrypt

    connection = schema_editor.connection
    last = 0
    with connection.cursor() as cursor:
        while True:
            cursor.execute("SELECT id, email, name FROM behavior_customer WHERE id > %s AND "
                           "((email <> '' AND email NOT LIKE 'gAAAAAAAAAAA%%') OR "
                           "(name <> '' AND name NOT LIKE 'gAAAAAAAAAAA%%')) ORDER BY id LIMIT %s", [last, BATCH])
            rows = cursor.fetchall()
            if not rows:
                break
            cursor.executemany("UPDATE behavior_customer SET email = %s, name = %s WHERE id = %s", [
                (email if is_token(email) else personal_encrypt(email),
                 name if is_token(name) else personal_encrypt(name), pk) for pk, email, name in rows])
            last = rows[-1][0]


def decrypt_existing(apps, schema_editor):
    from ecomsight.crypto import is_token, personal_decrypt

    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT id, email, name FROM behavior_customer WHERE email LIKE 'gAAAAA%%' "
                       "OR name LIKE 'gAAAAA%%'")
        cursor.executemany("UPDATE behavior_customer SET email = %s, name = %s WHERE id = %s", [
            (personal_decrypt(email) if is_token(email) else email,
             personal_decrypt(name) if is_token(name) else name, pk) for pk, email, name in cursor.fetchall()])


class Migration(migrations.Migration):

    dependencies = [
        ("behavior", "0007_customer_marketing_consent"),
    ]

    operations = [
        migrations.AlterField(
            model_name="customer",
            name="email",
            field=ecomsight.crypto.EncryptedTextField(blank=True),
        ),
        migrations.AlterField(
            model_name="customer",
            name="name",
            field=ecomsight.crypto.EncryptedTextField(blank=True),
        ),
        migrations.RunPython(encrypt_existing, decrypt_existing),
    ]
