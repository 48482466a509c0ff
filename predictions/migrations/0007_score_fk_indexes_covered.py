"""The scores' run and customer foreign keys lose their own single-column indexes: the unique constraint
(scoring_run, customer, task) leads with the run and score_customer_history with the customer, and every index
is written for each of a scoring run's rows. Only the indexes are dropped: Django's AlterField would also drop and
re-add both foreign keys, checking every score row again. CONCURRENTLY (outside a transaction): the drop does
not wait for, nor block, the reads and writes of a running scoring run; the reverse builds without blocking writes."""

import django.db.models.deletion
from django.db import migrations, models

_INDEXES = {"predictions_customerscore_customer_id_f4e7aebf": "customer_id",
            "predictions_customerscore_scoring_run_id_df25cf38": "scoring_run_id"}


class Migration(migrations.Migration):

    atomic = False

    dependencies = [
        ('behavior', '0016_covering_customer_indexes'),
        ('predictions', '0006_customer_interest_profile'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    [f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"' for name in _INDEXES],
                    [f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{name}" ON "predictions_customerscore" ("{column}")'
                     for name, column in _INDEXES.items()],
                ),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name='customerscore',
                    name='customer',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE,
                                            related_name='scores', to='behavior.customer'),
                ),
                migrations.AlterField(
                    model_name='customerscore',
                    name='scoring_run',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE,
                                            related_name='scores', to='predictions.scoringrun'),
                ),
            ],
        ),
    ]
