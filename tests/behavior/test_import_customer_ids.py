"""Customer ids that silently split customers or carry e-mail addresses (an outside analyst): `0007` before June and
`7` after (Excel drops the zeros) made 1,015 customers of 790 and the import said nothing, nor did `quality_report`
(it checked product ids only); e-mail addresses used as ids are stored and exported in plain text as the id, and
their case variants split customers (1,012 of 790). Ids are never rewritten: the import says so and how to fix the
file."""

import io
import json
from io import StringIO

import pytest
from django.core.management import call_command

from behavior.models import Customer
from behavior.selectors import quality_report
from tests.behavior.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def _import(shop, path, *args, kind="orders"):
    out = io.StringIO()
    call_command("import_data", kind, str(path), "--shop", shop.slug, *args, stdout=out)
    return json.loads(out.getvalue().strip().splitlines()[-1])


ZEROS = ("order_id,customer_id,placed_at,total\n"
         "1,0007,2024-03-01 10:00:00,20.00\n"
         "2,0042,2024-03-02 10:00:00,20.00\n"
         "3,0000,2024-03-03 10:00:00,20.00\n"
         "4,7,2024-07-01 10:00:00,30.00\n"
         "5,42,2024-07-02 10:00:00,30.00\n"
         "6,0,2024-07-03 10:00:00,30.00\n"
         "7,0100,2024-07-04 10:00:00,30.00\n")


def test_customer_ids_differing_only_in_leading_zeros_are_said_with_an_example_and_stored_as_written(
        shop, tmp_path, import_dir, capsys):
    path = tmp_path / "orders.csv"
    path.write_text(ZEROS)
    document = _import(shop, path)
    assert document["customer_ids_leading_zeros"] == {
        "groups": 2, "extra_ids": 2, "example": ["0007", "7"], "stored_ids": 0, "zero_guest_rows": 1,
        "zero_id": "0000"}
    err = capsys.readouterr().err
    assert "2 customer id(s) are written with and without leading zeros (0007 and 7): each spelling is a customer" \
           in err
    assert "format the column as text, or pad the numbers again" in err
    # 0 is a guest checkout (README), 0000 a customer: deliberate, and said.
    assert "1 order row(s) name the customer 0, a guest checkout, while the customer id 0000 is a customer" in err
    assert document["guest_rows"] == 1
    # Never rewritten.
    assert sorted(Customer.objects.filter(shop=shop).values_list("external_id", flat=True)) == [
        "0000", "0007", "0042", "0100", "42", "7", "guest"]
    # A later file with the zeros dropped: the stored spellings are named (one statement), a dry run alike.
    later = tmp_path / "later.csv"
    later.write_text("order_id,customer_id,placed_at,total\n8,100,2024-08-01 10:00:00,5.00\n"
                     "9,42,2024-08-02 10:00:00,5.00\n10,CAFE,2024-08-02 10:00:00,5.00\n")
    dry = _import(shop, later, "--dry-run")
    assert dry["customer_ids_leading_zeros"] == {
        "groups": 2, "extra_ids": 2, "example": ["0042", "42"], "stored_ids": 2, "zero_guest_rows": 0,
        "zero_id": None}
    assert "2 of the spellings are customers the shop already held, not in the file" in capsys.readouterr().err
    assert dry["customer_ids_differing_only_in_case"]["groups"] == 0


def test_quality_report_flags_customer_ids_differing_in_leading_zeros_by_the_product_ids_rule(shop):
    for external_id in ("0007", "7", "C1", "c1", "8"):
        CustomerFactory(shop=shop, external_id=external_id)
    report = quality_report(shop=shop, use_cache=False)
    assert report["duplicates"]["customer_ids_differing_only_in_spelling"] == {"groups": 2, "extra_rows": 2}
    assert report["duplicates"]["customer_ids_differing_only_in_case"] == {"groups": 1, "extra_rows": 1}
    out = StringIO()
    call_command("quality_report", "--shop", shop.slug, stdout=out)
    assert ("2 customer ids written in more than one case, spacing or with leading zeros (C1 and c1, 0007 and 7: "
            "2 extra customers") in out.getvalue()


EMAILS = ("order_id,customer_id,placed_at,total\n"
          "1,Client.1@Example.com,2024-03-01 10:00:00,20.00\n"
          "2,client.1@example.com,2024-07-01 10:00:00,20.00\n"
          "3,other@shop.test,2024-07-02 10:00:00,20.00\n"
          "4,C-17,2024-07-02 10:00:00,20.00\n"
          "5,c-17,2024-07-03 10:00:00,20.00\n")


def test_e_mail_addresses_as_customer_ids_and_their_case_variants_are_said(shop, tmp_path, import_dir, capsys):
    path = tmp_path / "orders.csv"
    path.write_text(EMAILS)
    document = _import(shop, path)
    assert document["customer_ids_look_like_emails"] == 3
    assert document["customer_ids_differing_only_in_case"] == {
        "groups": 2, "extra_ids": 2, "example": ["C-17", "c-17"], "stored_ids": 0}
    assert document["customer_ids_leading_zeros"]["groups"] == 0
    err = capsys.readouterr().err
    assert ("3 customer id(s) are e-mail addresses: ids are stored as written, in plain text (the email field is "
            "encrypted at rest, the id is not)") in err
    assert "pseudonymised exports included" in err and "--map email=COLUMN" in err
    assert "2 customer id(s) are written in more than one case" in err
    # Storage unchanged: the ids as written.
    assert Customer.objects.filter(shop=shop, external_id="Client.1@Example.com").exists()
    # A clean file says nothing.
    clean = tmp_path / "clean.csv"
    clean.write_text("order_id,customer_id,placed_at,total\n9,C-99,2024-08-01 10:00:00,5.00\n")
    quiet = _import(shop, clean)
    assert quiet["customer_ids_look_like_emails"] == 0
    assert quiet["customer_ids_differing_only_in_case"]["groups"] == 0
    assert "customer id(s)" not in capsys.readouterr().err
