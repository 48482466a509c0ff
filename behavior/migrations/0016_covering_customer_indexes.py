"""The (customer, time) indexes of events and orders become covering indexes (issue 23).

A scoring chunk or a recommendation partition reads the events and orders of a range of customers. Both tables
hold their rows in the order they arrived, so one range's rows are spread over nearly every page: each chunk read
the whole table, and a shop's scoring time grew with the square of its size (EXPLAIN at 200,000 customers: one
chunk of 25,000 read 115,673 pages of events, all of them; from the covering index 6,845). With every column those
reads take in the index (INCLUDE), PostgreSQL answers them from the index alone (an index-only scan), where a
range's entries lie together — for the pages autovacuum has marked all-visible, which it does soon after a load.

Cost: the events index grows by about 40 % (34 -> 47 MB per 800,000 events); the orders index is 391 MB at
5.3 M orders (the (shop, time) index, same key width, 184 MB).
Building it holds a SHARE lock on the table: imports wait, reads go on. Measured here: `migrate behavior 0016` on
37.2 M events and 5.3 M orders took 34 s (Django's start included); `VACUUM (ANALYZE)` afterwards 45 s.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0005_job_progress_at'),
        ('behavior', '0015_event_partitioned_by_month'),
        ('catalog', '0003_product_url'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='event',
            name='event_customer_time',
        ),
        migrations.RemoveIndex(
            model_name='order',
            name='order_customer_time',
        ),
        migrations.AddIndex(
            model_name='event',
            index=models.Index(fields=['customer', 'occurred_at'], include=('shop', 'type', 'product'), name='event_customer_time'),
        ),
        migrations.AddIndex(
            model_name='order',
            index=models.Index(fields=['customer', 'placed_at'], include=('id', 'shop', 'total', 'item_count', 'status'), name='order_customer_time'),
        ),
    ]
