"""Encryption at rest of customers' email and name (ecomsight.crypto), its key rotation and lookups."""

import io
import json

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import FieldError
from django.core.management import call_command
from django.db import connection

from behavior.ingest import services as ingest_services
from behavior.models import Customer
from behavior.selectors import customer_by_email
from ecomsight.crypto import LEGACY_PREFIX, email_index, personal_decrypt, personal_encrypt

pytestmark = pytest.mark.django_db
K1, K2 = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def _stored(shop, external_id):
    with connection.cursor() as cursor:
        cursor.execute("SELECT email, name FROM behavior_customer WHERE shop_id = %s AND external_id = %s",
                       [shop.pk, external_id])
        return cursor.fetchone()


def _index(shop, external_id):
    return Customer.objects.filter(shop=shop, external_id=external_id).values_list("email_index", flat=True).get()


def test_the_orm_stores_tokens_and_reads_plain_text(shop, settings):
    settings.PERSONAL_DATA_KEYS = K1
    Customer.objects.create(shop=shop, external_id="C1", email="ann@example.com", name="Ann Lee")
    email, name = _stored(shop, "C1")
    # Not the plain text: a random token can hold "ann" by chance (base64), never the whole value.
    assert "ann@example.com" not in email.lower() and "Ann Lee" not in name
    assert Fernet(K1.encode()).decrypt(email.encode()).decode() == "ann@example.com"  # a real Fernet token
    customer = Customer.objects.get(shop=shop, external_id="C1")
    assert (customer.email, customer.name) == ("ann@example.com", "Ann Lee")
    assert customer_by_email(shop=shop, email=" Ann@Example.com").get() == customer  # lookups by the blind index
    assert _index(shop, "C1") == email_index("ann@example.com") and len(_index(shop, "C1")) == 64
    with pytest.raises(FieldError, match="email_index"):  # the token cannot be compared: said, not a silent miss
        Customer.objects.filter(shop=shop, email="ann@example.com").exists()
    assert list(Customer.objects.filter(shop=shop).values_list("email", flat=True)) == ["ann@example.com"]
    Customer.objects.create(shop=shop, external_id="C2")
    assert _stored(shop, "C2") == ("", "") and _index(shop, "C2") == ""  # empty stays empty


def test_tokens_have_random_ivs_and_no_hand_built_format(shop, settings):
    # The deterministic tokens (IV = HMAC of the value) told which customers share an email or a name.
    settings.PERSONAL_DATA_KEYS = K1
    first, second = personal_encrypt("ann@example.com"), personal_encrypt("ann@example.com")
    assert first != second and not first.startswith(LEGACY_PREFIX)
    assert Fernet(K1.encode()).decrypt(first) == Fernet(K1.encode()).decrypt(second) == b"ann@example.com"
    Customer.objects.create(shop=shop, external_id="A", email="same@example.com", name="Same")
    Customer.objects.create(shop=shop, external_id="B", email="same@example.com", name="Same")
    assert _stored(shop, "A") != _stored(shop, "B")
    assert {c.external_id for c in customer_by_email(shop=shop, email="same@example.com")} == {"A", "B"}


def test_imports_store_tokens_and_a_second_import_changes_nothing(shop, tmp_path, settings):
    settings.PERSONAL_DATA_KEYS = K1
    path = tmp_path / "customers.csv"
    path.write_text("customer_id,email,name\nC1,ann@example.com,Ann Lee\nC2,,\n")

    def run():
        job = ingest_services.import_job_create(shop=shop, kind="customers", path=path)
        return ingest_services.import_job_run(import_job_id=job.pk)

    assert run().inserted == 2
    email, name = _stored(shop, "C1")
    assert email.startswith("gAAAA") and "example" not in email and "Ann" not in name
    assert Customer.objects.get(shop=shop, external_id="C1").email == "ann@example.com"
    assert customer_by_email(shop=shop, email="ann@example.com").get().external_id == "C1"
    again = run()
    assert (again.inserted, again.updated, again.duplicates) == (0, 0, 2)
    assert _stored(shop, "C1") == (email, name)  # the stored tokens are kept, not re-encrypted
    path.write_text("customer_id,email,name\nC1,ann@new.example,Ann Lee\nC2,,\n")
    changed = run()
    assert (changed.inserted, changed.updated, changed.duplicates) == (0, 1, 1)
    assert _stored(shop, "C1")[1] == name  # the name did not change: its token neither
    assert customer_by_email(shop=shop, email="ann@new.example").get().external_id == "C1"
    assert not customer_by_email(shop=shop, email="ann@example.com").exists()


def test_key_rotation_reencrypts_everything_and_lookups_work_throughout(shop, settings):
    settings.PERSONAL_DATA_KEYS = K1
    Customer.objects.create(shop=shop, external_id="C1", email="ann@example.com", name="Ann")
    with connection.cursor() as cursor:  # a row stored before encryption was on
        cursor.execute("INSERT INTO behavior_customer (shop_id, external_id, email, name, country, attributes, "
                       "is_stub, created_at) VALUES (%s, 'C0', 'old@example.com', 'Old', '', '{}', false, now())",
                       [shop.pk])
    settings.PERSONAL_DATA_KEYS = f"{K2},{K1}"  # the new key first, the old one still there
    assert Customer.objects.get(shop=shop, external_id="C1").email == "ann@example.com"
    assert customer_by_email(shop=shop, email="ann@example.com").count() == 1  # the index needs no key change
    out = io.StringIO()
    call_command("rotate_personal_data_keys", "--batch-size", "1", stdout=out)
    assert json.loads(out.getvalue()) == {"customers": 2, "rewritten": 2}
    settings.PERSONAL_DATA_KEYS = K2  # the old key gone
    for external_id, email in (("C1", "ann@example.com"), ("C0", "old@example.com")):
        stored, _ = _stored(shop, external_id)
        assert Fernet(K2.encode()).decrypt(stored.encode()).decode() == email
        assert customer_by_email(shop=shop, email=email).get().external_id == external_id
    out = io.StringIO()
    call_command("rotate_personal_data_keys", stdout=out)
    assert json.loads(out.getvalue()) == {"customers": 2, "rewritten": 0}  # nothing left to do
    # A new index key: lookups miss until the command recomputes every index.
    settings.PERSONAL_DATA_INDEX_KEY = "a-new-index-key-" + "x" * 32
    assert not customer_by_email(shop=shop, email="ann@example.com").exists()
    out = io.StringIO()
    call_command("rotate_personal_data_keys", stdout=out)
    assert json.loads(out.getvalue()) == {"customers": 2, "rewritten": 2}
    assert customer_by_email(shop=shop, email="ann@example.com").get().external_id == "C1"


def test_the_deterministic_tokens_stored_before_are_read_and_rotated_to_random_ones(shop, settings):
    # What the previous crypto.py wrote: a Fernet token with a zero timestamp and IV = HMAC of the value.
    settings.PERSONAL_DATA_KEYS = K1
    legacy = Fernet(K1.encode()).encrypt_at_time(b"ann@example.com", 0).decode()
    assert legacy.startswith(LEGACY_PREFIX)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO behavior_customer (shop_id, external_id, email, name, country, attributes, "
                       "is_stub, created_at) VALUES (%s, 'L1', %s, '', '', '{}', false, now())", [shop.pk, legacy])
    assert Customer.objects.get(shop=shop, external_id="L1").email == "ann@example.com"
    out = io.StringIO()
    call_command("rotate_personal_data_keys", stdout=out)
    assert json.loads(out.getvalue()) == {"customers": 1, "rewritten": 1}
    email, _ = _stored(shop, "L1")
    assert not email.startswith(LEGACY_PREFIX) and personal_decrypt(email) == "ann@example.com"
    assert customer_by_email(shop=shop, email="ann@example.com").get().external_id == "L1"


def test_a_missing_key_is_a_clear_error_not_garbage(settings):
    settings.PERSONAL_DATA_KEYS = K1
    token = personal_encrypt("ann@example.com")
    settings.PERSONAL_DATA_KEYS = K2
    with pytest.raises(Exception, match="PERSONAL_DATA_KEYS"):
        personal_decrypt(token)


@pytest.mark.django_db(transaction=True)
def test_the_migration_fills_the_index_and_replaces_deterministic_tokens_for_stored_rows(settings):
    from django.db.migrations.executor import MigrationExecutor

    from accounts.models import Shop

    settings.PERSONAL_DATA_KEYS = K1
    executor = MigrationExecutor(connection)
    executor.migrate([("behavior", "0012_pendingupload")])
    shop = Shop.objects.create(slug="m", name="M")
    legacy = Fernet(K1.encode()).encrypt_at_time(b"Ann@Example.com", 0).decode()  # as the first version stored
    with connection.cursor() as cursor:
        for external_id, email in (("L1", legacy), ("P1", "plain@example.com"), ("E1", "")):
            cursor.execute("INSERT INTO behavior_customer (shop_id, external_id, email, name, country, attributes, "
                           "is_stub, created_at) VALUES (%s, %s, %s, '', '', '{}', false, now())",
                           [shop.pk, external_id, email])
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert customer_by_email(shop=shop, email="ann@example.com").get().external_id == "L1"
    assert customer_by_email(shop=shop, email="plain@example.com").get().external_id == "P1"
    stored = dict(Customer.objects.filter(shop=shop).values_list("external_id", "email_index"))
    assert stored["E1"] == ""
    for external_id in ("L1", "P1"):
        token, _ = _stored(shop, external_id)
        assert token.startswith("gAAAAA") and not token.startswith(LEGACY_PREFIX)
