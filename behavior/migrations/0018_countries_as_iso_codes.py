"""Customers' countries as ISO 3166 codes, as imports store them since (behavior.ingest.values.country_canonical):
"Germany", "Deutschland" and "DE" were three countries in forecasts, alerts and filters. A name no table knows
is left as written. One UPDATE per distinct spelling (a shop has a few hundred at most)."""

from django.db import migrations


def countries_canonical(apps, schema_editor):
    from behavior.ingest.values import country_canonical

    Customer = apps.get_model("behavior", "Customer")
    written = Customer.objects.exclude(country="").values_list("country", flat=True).distinct()
    for value in list(written):
        code = country_canonical(value)
        if code != value:
            Customer.objects.filter(country=value).update(country=code)


class Migration(migrations.Migration):
    dependencies = [("behavior", "0017_import_job_blanked")]
    operations = [migrations.RunPython(countries_canonical, migrations.RunPython.noop)]
