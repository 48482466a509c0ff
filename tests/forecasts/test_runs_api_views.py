"""Forecast runs (stored, reconciled), the API, the Forecast and Alerts pages, alerts and their email."""

import datetime as dt
import json
from io import StringIO

import numpy as np
import pytest
from django.core import mail
from django.core.management import call_command
from django.db.models.functions import TruncDay
from django.utils.html import escape

from accounts.tokens import api_token_create
from behavior.models import Customer, Order
from forecasts.ml.selection import DEFAULT_MODELS
from forecasts.models import Alert, CustomerFlag, ForecastValue, MonitorMute
from forecasts.services.alerts import alerts_notify, alerts_save, anomalies_detect
from forecasts.services.runs import forecast_run_create
from forecasts.templatetags.forecast_tags import MODEL_WORDS
from tests.accounts.factories import UserFactory
from tests.api.conftest import bearer

START = dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC)
# The slow candidates (AutoARIMA, LightGBM) have their own tests; these check storage, pages and wiring.
FAST = ("naive", "seasonal_naive", "auto_ets", "customer", "ensemble")


def _shop_with_countries(shop, *, days=200, outage_from=None, seed=0):
    rng = np.random.default_rng(seed)
    countries = ["DE", "FR", "NL"]
    customers = Customer.objects.bulk_create([Customer(shop=shop, external_id=f"c{i}", country=countries[i % 3])
                                              for i in range(300)])
    orders = []
    for d in range(days):
        day = START + dt.timedelta(days=d)
        if outage_from is not None and outage_from <= d < outage_from + 3:
            continue
        for _ in range(rng.poisson(25 + 10 * (day.weekday() >= 5))):
            orders.append(Order(shop=shop, external_id=f"o{len(orders)}", placed_at=day, total=float(rng.gamma(2, 20)),
                                customer=customers[int(rng.integers(0, 300))], status="placed"))
    Order.objects.bulk_create(orders)


@pytest.fixture
def forecast_run(shop):
    _shop_with_countries(shop, days=120)
    return forecast_run_create(shop=shop, horizon_days=28, levels=("shop", "country", "category"),
                               measures=("orders", "revenue"), freqs=("week",), models=FAST)


@pytest.mark.django_db
def test_forecast_run_stores_reconciled_countries_with_ordered_bands(forecast_run):
    history = ForecastValue.objects.filter(run=forecast_run, is_actual=True, level="shop", measure="orders")
    # The stored history (what the page draws) is every order up to the cutoff, none after it. The orders of the
    # last day end at noon: a day still running (a file exported at noon), so the cutoff is the day before it.
    orders = Order.objects.filter(shop=forecast_run.shop)
    last = max(orders.values_list("placed_at", flat=True))
    assert forecast_run.cutoff == (last - dt.timedelta(days=1)).date()
    assert sum(v.point for v in history) == orders.filter(placed_at__date__lte=forecast_run.cutoff).count()
    assert max(v.date for v in history) == forecast_run.cutoff
    values = ForecastValue.objects.filter(run=forecast_run, is_actual=False)
    shop = {v.date: v.point for v in values.filter(level="shop", measure="orders")}
    assert len(shop) == 4  # 28 days = 4 weeks
    by_date: dict = {}
    for v in values.filter(level="country", measure="orders"):
        by_date[v.date] = by_date.get(v.date, 0.0) + v.point
        assert v.lo95 <= v.lo80 <= v.point <= v.hi80 <= v.hi95
    assert set(values.filter(level="country").values_list("key", flat=True)) == {"DE", "FR", "NL"}
    for date, total in by_date.items():
        assert total == pytest.approx(shop[date], rel=1e-6)
    # About 28 orders a day: a week of about 200.
    assert 120 < np.mean(list(shop.values())) < 280
    assert any("category" in s for s in forecast_run.summary["skipped"])  # no order lines in this shop


@pytest.mark.django_db
def test_orders_dated_without_times_forecast_from_their_last_day(shop):
    """An outside analyst: a file of dates without times (every order at midnight) had its last day taken for a day
    still running, left out of the forecast, its cutoff the day before."""
    _shop_with_countries(shop, days=60)
    Order.objects.filter(shop=shop).update(placed_at=TruncDay("placed_at", tzinfo=dt.UTC))
    last = max(Order.objects.filter(shop=shop).values_list("placed_at", flat=True))
    run = forecast_run_create(shop=shop, horizon_days=14, levels=("shop",), measures=("orders",), freqs=("day",),
                              models=FAST)
    assert run.cutoff == last.date()


@pytest.mark.django_db
def test_a_series_forecast_per_day_and_per_week_tells_one_total(client, shop):
    """A reviewer saw 9,418 orders in the daily forecast's 91 days and 9,285 in the weekly one's 13 weeks: each
    week of a series' days now adds up to that series' weekly forecast, countries and the shop alike."""
    _shop_with_countries(shop, days=120)
    run = forecast_run_create(shop=shop, horizon_days=28, levels=("shop", "country"), measures=("orders",),
                              freqs=("week", "day"), models=FAST)
    values = ForecastValue.objects.filter(run=run, is_actual=False, measure="orders")
    for level, key in (("shop", "shop"), ("country", "DE"), ("country", "FR"), ("country", "NL")):
        weeks = dict(values.filter(level=level, key=key, freq="week").values_list("date", "point"))
        days = dict(values.filter(level=level, key=key, freq="day").values_list("date", "point"))
        assert len(weeks) == 4 and len(days) == 28
        for end, week in weeks.items():
            in_week = [p for d, p in days.items() if end - dt.timedelta(days=7) < d <= end]
            assert len(in_week) == 7
            assert sum(in_week) == pytest.approx(week, rel=1e-6), (level, key, end)
    for v in values.filter(freq="day"):
        assert v.lo95 <= v.lo80 <= v.point <= v.hi80 <= v.hi95
    info = run.summary["levels"]["shop"]["orders"]
    assert info["day"]["scaled_to_weeks"] == info["week"]["champion"]
    client.force_login(UserFactory(role="marketer", shops=[shop]))
    text = client.get("/forecasts/?level=shop&measure=orders&freq=day").content.decode()
    assert "Its days are scaled so that each week adds up to the weekly forecast" in text
    assert "Next 28 days:" in text and "in whole weeks" not in text
    # A horizon that is not whole weeks: the weekly page sums 5 weeks and says so (an outside analyst read
    # "Next 30 days" on both pages, with two totals).
    forecast_run_create(shop=shop, horizon_days=30, levels=("shop",), measures=("orders",), freqs=("week", "day"),
                        models=FAST)
    weekly = client.get("/forecasts/?level=shop&measure=orders&freq=week").content.decode()
    assert "Next 5 weeks (the 30-day horizon, in whole weeks):" in weekly and "35 days" not in weekly
    assert "Next 30 days:" in client.get("/forecasts/?level=shop&measure=orders&freq=day").content.decode()


@pytest.mark.django_db
def test_the_days_of_a_last_partial_week_add_up_to_their_share_of_the_weekly_forecast(client, shop):
    """A new user: 90 days are 12 weeks and 6 days of the 13th, and those 6 days were left as the daily champion
    forecast them (Italy's revenue on 1-6 Mar 2027: 1,979 EUR against 1,264 for the whole week; the whole shop's
    orders 229 against ~280), while the page said each week adds up to the weekly forecast. A spike on the cutoff
    day makes the naive daily forecast (that day, every day) disagree with the naive weekly one (the last week)."""
    _shop_with_countries(shop, days=120)
    customers = list(Customer.objects.filter(shop=shop)[:60])
    Order.objects.bulk_create([Order(shop=shop, external_id=f"spike{i}", placed_at=START + dt.timedelta(days=118),
                                     total=40.0, customer=c, status="placed") for i, c in enumerate(customers)])
    run = forecast_run_create(shop=shop, horizon_days=30, levels=("shop", "country"), measures=("orders",),
                              freqs=("week", "day"), models=("naive",))
    assert run.cutoff == (START + dt.timedelta(days=118)).date()
    values = ForecastValue.objects.filter(run=run, is_actual=False, measure="orders")
    for level, key in (("shop", "shop"), ("country", "DE"), ("country", "FR"), ("country", "NL")):
        weeks = [v.point for v in values.filter(level=level, key=key, freq="week").order_by("date")]
        days = list(values.filter(level=level, key=key, freq="day").order_by("date"))
        assert len(weeks) == 5 and len(days) == 30
        # The naive daily forecast is flat, so the 2 days of the 5th week hold 2/7 of it (unscaled: 2 spike days,
        # about 85 % of the week).
        assert sum(v.point for v in days[28:]) == pytest.approx(weeks[4] * 2 / 7, rel=1e-6), (level, key)
        assert sum(v.point for v in days) == pytest.approx(sum(weeks[:4]) + weeks[4] * 2 / 7, rel=1e-6)
        assert all(v.lo95 <= v.lo80 <= v.point <= v.hi80 <= v.hi95 for v in days)
        assert days[28].hi80 < 1.05 * days[27].hi80  # no jump in the band (the naive band widens slowly)
    client.force_login(UserFactory(role="marketer", shops=[shop]))
    page = client.get("/forecasts/?level=shop&measure=orders&freq=day")
    weeks = [v.point for v in values.filter(level="shop", freq="week").order_by("date")]
    assert page.context["total"] == pytest.approx(sum(weeks[:4]) + weeks[4] * 2 / 7, rel=1e-6)
    assert "the last, partial week to its days' share of it" in page.content.decode()


@pytest.mark.django_db
def test_the_forecast_covers_the_shops_horizon_and_the_dashboard_says_one_number(client, shop):
    """A browser review read "Next 91 days" on the dashboard's forecast card beside "customers expected to order
    in the next 90 days": the forecast's fixed 91 days were a second horizon. It now follows the shop's setting and
    counts whole weeks as weeks."""
    _shop_with_countries(shop, days=120)
    run = forecast_run_create(shop=shop, levels=("shop",), measures=("orders",), models=("naive",))
    assert run.horizon_days == shop.horizon_days == 90
    assert ForecastValue.objects.filter(run=run, is_actual=False, freq="day").count() == 90
    client.force_login(UserFactory(role="marketer", shops=[shop]))
    dashboard = client.get("/").content.decode()
    assert "Next 13 weeks (the 90-day horizon, in whole weeks):" in dashboard and "91 days" not in dashboard
    weekly = client.get("/forecasts/?freq=week").content.decode()
    assert "90 days ahead" in weekly and "Next 13 weeks (the 90-day horizon" in weekly and "91 days" not in weekly
    assert "Next 90 days:" in client.get("/forecasts/?freq=day").content.decode()
    shop.horizon_days = 28
    shop.save()
    run = forecast_run_create(shop=shop, levels=("shop",), measures=("orders",), models=("naive",))
    assert run.horizon_days == 28
    assert "Next 4 weeks:" in client.get("/").content.decode()


@pytest.mark.django_db
def test_forecasts_api_returns_the_latest_run_to_its_shop_only(forecast_run, shop, other_shop):
    user = UserFactory(role="marketer", shops=[shop, other_shop])
    client = bearer(api_token_create(user=user, shop=shop, name="t").plain)
    body = client.get("/api/v1/forecasts/?level=country&measure=revenue").json()
    assert body["run_id"] == forecast_run.pk and body["level"] == "country" and body["measure"] == "revenue"
    assert [s["key"] for s in body["series"]] == ["DE", "FR", "NL"]
    assert len(body["series"][0]["values"]) == 4 and {"date", "point", "lo80", "hi80", "lo95", "hi95"} <= set(
        body["series"][0]["values"][0])
    assert client.get("/api/v1/forecasts/?measure=profit").status_code == 400
    other = bearer(api_token_create(user=user, shop=other_shop, name="o").plain)
    assert other.get("/api/v1/forecasts/").status_code == 404
    assert bearer("nonsense").get("/api/v1/forecasts/").status_code == 401


@pytest.mark.django_db
def test_forecast_page_chart_csv_and_dashboard_card(client, forecast_run, shop):
    client.force_login(UserFactory(role="marketer", shops=[shop]))
    page = client.get("/forecasts/?level=shop&measure=orders&freq=week")
    assert page.status_code == 200
    text = page.content.decode()
    assert "off by" in text and "<polygon" in text and "Download CSV" in text
    assert "this model's forecast was off by" in text
    # The chart has axes (a browser review found neither dates nor values): the unit, value ticks from zero up
    # to above the highest band, and dates from the history's first week to the forecast's last.
    chart = page.context["chart"]
    assert "Orders per week" in text and 'class="fc-chart-y"' in text and 'class="fc-chart-x"' in text
    assert chart.y_ticks[-1].label == "0" and float(chart.y_ticks[0].label.replace(",", "")) >= max(
        v.hi95 for v in page.context["values"])
    assert all(f">{t.label}</span>" in text for t in chart.y_ticks + chart.x_ticks)
    assert chart.x_ticks[-1].label.startswith(f"{chart.last.day} {chart.last:%b}")
    assert "Revenue per week (EUR)" in client.get("/forecasts/?measure=revenue").content.decode()
    # The model is named in a marketer's words, its technical name left to analysts (browser reviews found
    # "forecast by auto_ets", then the code still beside the words); the JSON and CSV keep the names.
    champion = forecast_run.summary["levels"]["shop"]["orders"]["week"]["champion"]
    assert f"forecast by <strong>{escape(MODEL_WORDS[champion])}</strong>." in text
    assert f"({champion})" not in text and f"<strong>{champion}</strong>" not in text
    # On a phone the table's rows are cards, each figure with its label (the band column was cut off at 390 px).
    assert 'class="table rows-as-cards forecast-table"' in text and 'data-label="80 % band"' in text
    # A country's page shows its level's validation error, and says so (a browser review read "off by 32 %" on
    # every country as each one's own).
    country = client.get("/forecasts/?level=country&measure=orders&freq=week&key=FR").content.decode()
    assert "this level's forecasts (its 3 series together, not this one alone) were off by" in country
    csv_rows = client.get("/forecasts/forecast.csv?level=country&measure=orders").content.decode().strip().split("\n")
    assert csv_rows[0].startswith("level,key,measure") and len(csv_rows) == 1 + 3 * 4
    assert "Forecast" in client.get("/").content.decode()


@pytest.mark.django_db
def test_forecast_page_pickers_read_in_words_not_codes(client, forecast_run, shop):
    """Session 24's browser review: the Forecast page's form offered "shop / category / country / product" and the
    series by id ("DE", "P0000141"), and named the model by its code beside its words."""
    client.force_login(UserFactory(role="marketer", shops=[shop]))
    text = client.get("/forecasts/?level=country&measure=orders&freq=week&key=FR").content.decode()
    assert '<option value="shop">Whole shop</option>' in text and '<option value="units">Units sold</option>' in text
    assert ('<label>Country <select name="key"><option value="FR" selected>France</option>'
            '<option value="DE">Germany</option><option value="NL">Netherlands</option>') in text
    assert "Orders per week · France" in text
    champion = forecast_run.summary["levels"]["shop"]["orders"]["week"]["champion"]
    analyst = UserFactory(role="analyst", shops=[shop])
    client.force_login(analyst)
    assert f'<span class="small muted">({champion})</span>' in client.get("/forecasts/").content.decode()


@pytest.mark.django_db
def test_forecast_page_says_which_value_it_did_not_understand_and_what_it_shows_instead(client, forecast_run, shop):
    """A new user: `?measure=refunds` showed orders (its CSV link downloading orders) and `?key=de` or `key=XX`
    showed Austria, the first country, without a word."""
    client.force_login(UserFactory(role="marketer", shops=[shop]))
    page = client.get("/forecasts/?measure=refunds")
    text = page.content.decode()
    assert page.status_code == 200 and page.context["measure"] == "orders" and "Orders per week" in text
    assert ('<li class="message warning">What: “refunds” is not understood (it is one of Orders, Revenue or Units '
            'sold); showing Orders instead.</li>') in text
    assert "measure=orders&amp;freq=week" in text  # the CSV link says what it downloads
    text = client.get("/forecasts/?level=region&freq=month").content.decode()
    assert "For: “region” is not understood (it is one of Whole shop, Category, Country or Product (top sellers)); " \
        "showing Whole shop instead." in text
    assert "Per: “month” is not understood (it is one of week or day); showing week instead." in text
    # A country's key in any case, or by name, is that country (as the at-risk list's country filter reads it).
    for wanted in ("de", "DE", "Germany"):
        page = client.get(f"/forecasts/?level=country&key={wanted}")
        assert page.context["key"] == "DE" and not page.context["notices"], wanted
        assert "Orders per week · Germany" in page.content.decode()
    page = client.get("/forecasts/?level=country&key=XX")
    assert page.context["key"] == "DE" and page.context["notices"] == [
        "Country: “XX” is not understood (this forecast has no such country); showing Germany instead."]
    # The form carries the key of the level it showed when the level is changed: no notice for that.
    page = client.get("/forecasts/?level=shop&key=FR")
    assert page.context["key"] == "shop" and not page.context["notices"]
    # The CSV makes no file of another measure than the one asked for.
    refused = client.get("/forecasts/forecast.csv?level=country&measure=refunds")
    assert refused.status_code == 400 and "Content-Disposition" not in refused
    assert "What: “refunds” is not understood (it is one of Orders, Revenue or Units sold); no file is made." in \
        refused.content.decode()


@pytest.mark.django_db
def test_forecasts_api_reads_a_key_in_any_case_and_refuses_an_unknown_one_naming_it(forecast_run, shop):
    """A new user: the API answered `key=de` with an empty series and 200, while `at-risk/?country=de` worked."""
    client = bearer(api_token_create(user=UserFactory(role="marketer", shops=[shop]), shop=shop, name="t").plain)
    for wanted in ("de", "DE", "Germany"):
        body = client.get(f"/api/v1/forecasts/?level=country&key={wanted}").json()
        assert [s["key"] for s in body["series"]] == ["DE"] and len(body["series"][0]["values"]) == 4, wanted
    refused = client.get("/api/v1/forecasts/?level=country&key=XX")
    assert refused.status_code == 400
    assert refused.json() == {"status": 400, "code": "invalid_choice", "field": "key", "message": (
        "No series “XX” at the country level of the latest forecast (orders per week): its keys are DE, FR, NL.")}
    assert client.get("/api/v1/forecasts/?level=shop&key=SHOP").json()["series"][0]["key"] == "shop"


@pytest.mark.django_db
def test_forecast_table_figures_share_one_format_and_the_csv_names_the_model_in_words(client, forecast_run, shop):
    """A new user: each figure formatted alone mixed "10.0 – 33" and "5.5 – 72" in one table; the marketer's CSV
    named the model `auto_arima` only."""
    import csv
    import re

    client.force_login(UserFactory(role="marketer", shops=[shop]))
    week = ForecastValue.objects.filter(run=forecast_run, level="country", key="FR", measure="orders", freq="week",
                                        is_actual=False).order_by("date")
    first = week.first()
    week.filter(pk=first.pk).update(lo95=4.2, lo80=9.96, point=20.4, hi80=33.2, hi95=41.0)

    def cells(url):
        return re.findall(r'data-label="(?:Forecast|80 % band|95 % band)">([^<]*)<', client.get(url).content.decode())

    figures = cells("/forecasts/?level=country&key=FR")
    assert figures[:3] == ["20", "10 – 33", "4 – 41"]  # whole numbers throughout, never "10.0 – 33"
    assert all(re.fullmatch(r"[\d,]+( – [\d,]+)?", f) for f in figures), figures
    week.update(point=5.5, lo80=1.3, hi80=72.0, lo95=0.0, hi95=80.0)  # a slow series: one decimal throughout
    assert cells("/forecasts/?level=country&key=FR")[:3] == ["5.5", "1.3 – 72.0", "0.0 – 80.0"]
    rows = list(csv.reader(client.get("/forecasts/forecast.csv?level=country&measure=orders").content.decode()
                           .splitlines()))
    assert rows[0] == ["level", "key", "measure", "freq", "date", "model", "point", "lo80", "hi80", "lo95", "hi95",
                       "forecast_by"]
    champion = forecast_run.summary["levels"]["country"]["orders"]["week"]["champion"]
    assert {(r[5], r[11]) for r in rows[1:]} == {(champion, MODEL_WORDS[champion])}


@pytest.mark.django_db
def test_forecast_products_are_offered_by_title_not_by_id(shop):
    from catalog.models import Product
    from forecasts.selectors import forecast_key_choices

    Product.objects.create(shop=shop, external_id="P0000141", title="Linen shirt")
    Product.objects.create(shop=shop, external_id="P0000007", title="Alpaca scarf")
    choices = forecast_key_choices(shop_id=shop.pk, keys=["P0000007", "P0000141", "P9"], level="product")
    assert [(c.key, c.label) for c in choices] == [("P0000007", "Alpaca scarf (P0000007)"),
                                                   ("P0000141", "Linen shirt (P0000141)"), ("P9", "P9")]


def test_every_forecasting_model_has_words_for_the_forecast_page():
    """A model added without words would show its technical name to marketers again."""
    assert set(DEFAULT_MODELS) <= set(MODEL_WORDS)


@pytest.mark.django_db
def test_before_the_first_forecast_the_page_says_whether_one_is_being_made(client, shop):
    """A new user's review (session 15): the demo's forecast page said only "run python manage.py forecast"."""
    from django.utils import timezone

    from forecasts.models import ForecastRun

    client.force_login(UserFactory(role="marketer", shops=[shop]))
    assert "No forecast yet" in client.get("/forecasts/").content.decode()
    run = ForecastRun.objects.create(shop=shop, cutoff=dt.date(2024, 6, 1), horizon_days=91)
    assert "The first forecast is being made" in client.get("/forecasts/").content.decode()
    assert "The first forecast is being made" in client.get("/").content.decode()  # the dashboard's card too
    # A run whose process died stays "running": past the task's time limit it is not "being made" any more.
    ForecastRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - dt.timedelta(hours=3))
    assert "No forecast yet" in client.get("/forecasts/").content.decode()


@pytest.mark.django_db
def test_detect_anomalies_finds_the_outage_saves_one_alert_and_emails_analysts(shop):
    _shop_with_countries(shop, days=120, outage_from=110)
    out = StringIO()
    call_command("detect_anomalies", "--from", "2024-04-15", "--to", "2024-04-29", "--json", stdout=out)
    anomalies = json.loads(out.getvalue())["anomalies"]
    assert {"metric", "segment", "date", "direction", "expected", "actual", "score"} <= set(anomalies[0])
    outage = [a for a in anomalies if a["metric"] == "orders" and a["segment"] == "shop"]
    assert len(outage) == 1 and outage[0]["date"] == "2024-04-20" and outage[0]["direction"] == "down"
    assert outage[0]["actual"] == 0 and outage[0]["expected"] > 15

    analyst = UserFactory(role="analyst", shops=[shop], email="ana@example.com")
    created = alerts_save(shop=shop, anomalies=anomalies_detect(shop=shop, start=dt.date(2024, 4, 15),
                                                                end=dt.date(2024, 4, 29)))
    assert alerts_save(shop=shop, anomalies=anomalies_detect(shop=shop, start=dt.date(2024, 4, 15),
                                                             end=dt.date(2024, 4, 29))) == []  # no duplicates
    assert alerts_notify(shop=shop, alerts=created) == 1
    assert mail.outbox[0].to == [analyst.email] and "- Orders, Whole shop, 20 Apr 2024 to 22 Apr 2024: below" in \
        mail.outbox[0].body
    alert = Alert.objects.get(shop=shop, metric="orders", segment="shop")
    assert alert.end == dt.date(2024, 4, 22) and alert.notified_at is not None


@pytest.mark.django_db
def test_a_forecast_run_is_a_row_on_the_jobs_page(client, shop):
    # A browser review: the Jobs page listed imports, training and scoring, never the forecast that followed.
    from accounts.models import Job

    _shop_with_countries(shop, days=120)
    run = forecast_run_create(shop=shop, models=FAST, levels=("shop",), freqs=("week",))
    job = Job.objects.get(shop=shop, kind=Job.Kind.FORECAST)
    assert job.status == Job.Status.SUCCEEDED and job.params["forecast_run"] == run.pk
    assert job.started_at is not None and job.finished_at is not None
    assert job.message == f"3 series forecast for the {run.horizon_days} days after {run.cutoff:%d %b %Y}"
    client.force_login(UserFactory(role="analyst", shops=[shop]))
    page = client.get("/jobs/").content.decode()
    assert f"Forecast #{job.pk}" in page and job.message in page


@pytest.mark.django_db
def test_the_alerts_email_says_what_the_alerts_page_says_not_the_monitors_codes(shop):
    # An analyst reading "refund_rate (country:DE) up from 2024-05-10: 0.2 against 0.0 expected" had to guess
    # what the code, the rounded share and the segment meant; the Alerts page says it in words.
    UserFactory(role="analyst", shops=[shop], email="ana@example.com")
    alerts = [Alert.objects.create(shop=shop, metric="refund_rate", segment="country:DE", direction="up",
                                   start=dt.date(2024, 5, 10), end=dt.date(2024, 5, 10), expected=0.0032,
                                   actual=0.193, score=9.5),
              Alert.objects.create(shop=shop, metric="revenue", segment="shop", direction="down",
                                   start=dt.date(2024, 5, 3), end=dt.date(2024, 5, 5), expected=1234.5, actual=0,
                                   score=-6.2)]
    assert alerts_notify(shop=shop, alerts=alerts) == 1
    [email] = mail.outbox
    assert email.subject == f"[EcomSight] 2 new alerts for {shop.name}"
    assert ("- Share of orders refunded, Germany, 10 May 2024: above the expected: 19.3 % against 0.3 %, about 9 "
            "times the usual day-to-day spread") in email.body
    assert ("- Revenue, Whole shop, 3 May 2024 to 5 May 2024: below the expected: 0.00 EUR against 1,234.50 EUR, "
            "about 6 times the usual day-to-day spread") in email.body
    for code in ("refund_rate", "country:DE", "9.5", "(shop)"):
        assert code not in email.body


@pytest.mark.django_db
def test_alerts_page_acknowledge_and_mute_need_an_analyst(client, shop, other_shop):
    alert = Alert.objects.create(shop=shop, metric="orders", segment="shop", direction="down",
                                 start=dt.date(2024, 1, 5), end=dt.date(2024, 1, 7), expected=30, actual=0, score=-7)
    client.force_login(UserFactory(role="marketer", shops=[shop]))
    assert "orders" in client.get("/alerts/").content.decode()
    assert client.post("/alerts/acknowledge/", {"alert_id": alert.pk}).status_code == 403
    client.force_login(UserFactory(role="analyst", shops=[shop]))
    other = Alert.objects.create(shop=other_shop, metric="orders", segment="shop", direction="down",
                                 start=dt.date(2024, 1, 5), end=dt.date(2024, 1, 7), expected=30, actual=0, score=-7)
    assert client.post("/alerts/acknowledge/", {"alert_id": other.pk}).status_code == 404  # another shop's
    client.post("/alerts/acknowledge/", {"alert_id": alert.pk})
    alert.refresh_from_db()
    assert alert.status == Alert.Status.ACKNOWLEDGED
    client.post("/alerts/mute/", {"metric": "orders", "segment": "shop"})
    assert MonitorMute.objects.filter(shop=shop, metric="orders", segment="shop").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("with_alert", [False, True])
def test_alerts_page_tells_a_marketer_when_checks_run_not_a_command_to_run(client, shop, with_alert):
    """A browser review: the page told a marketer to run `python manage.py detect_anomalies`. It now says when
    checks run; an analyst learns that an import starts one, an administrator sees the command in a note."""
    if with_alert:
        Alert.objects.create(shop=shop, metric="orders", segment="shop", direction="down", start=dt.date(2024, 1, 5),
                             end=dt.date(2024, 1, 7), expected=30, actual=0, score=-7)
    customer = Customer.objects.create(shop=shop, external_id="c1")
    CustomerFlag.objects.create(shop=shop, customer=customer, kind="refund_abuse", reason="refunded 4 of 5 orders")
    pages = {}
    for role in ("marketer", "analyst", "admin"):
        client.force_login(UserFactory(role=role, shops=[shop]))
        pages[role] = client.get("/alerts/").content.decode()
        assert "checked every night, and a few minutes after new orders or events arrive" in pages[role]
    assert "manage.py" not in pages["marketer"] and "manage.py" not in pages["analyst"]
    assert 'href="/imports/"' not in pages["marketer"] and 'href="/imports/">import the latest' in pages["analyst"]
    assert "For administrators: a check can also be run on the server" in pages["admin"]
    assert "detect_anomalies --save" in pages["admin"] and "flag_customers" in pages["admin"]


@pytest.mark.django_db
def test_forecast_command_on_a_month_old_orders_only_shop_forecasts_without_validation(shop, settings):
    settings.FORECAST_MODELS = FAST
    _shop_with_countries(shop, days=30)
    out = StringIO()
    call_command("forecast", "--horizon", "14", "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["horizon_days"] == 14
    # 2 levels (shop, country) x 3 measures x (2 weeks + 14 days) x series (1 shop + 3 countries).
    assert report["values"] == 3 * (2 + 14) * (1 + 3)
    week = report["levels"]["shop"]["orders"]["week"]
    assert week["champion"] and week["validation_origins"] == [] and week["validation_wape_pct"] is None


@pytest.mark.django_db
def test_flag_customers_stores_the_refund_abuser_and_the_alerts_page_says_why(client, shop):
    _shop_with_countries(shop, days=40)
    abuser = Customer.objects.create(shop=shop, external_id="abuser")
    Order.objects.bulk_create([Order(shop=shop, external_id=f"r{i}", customer=abuser, placed_at=START, total=90,
                                     status="refunded" if i < 4 else "placed") for i in range(5)])
    out = StringIO()
    call_command("flag_customers", "--json", stdout=out)
    flags = json.loads(out.getvalue())["flags"]
    assert [(f["customer_id"], f["kind"]) for f in flags] == [("abuser", "refund_abuse")]
    client.force_login(UserFactory(role="marketer", shops=[shop]))
    assert "refunded 4 of 5 orders" in client.get("/alerts/").content.decode()


@pytest.mark.django_db
def test_a_tracking_feed_that_stops_is_found_from_the_events_table(shop):
    import uuid

    from behavior.models import Event

    _shop_with_countries(shop, days=80)
    customer = Customer.objects.filter(shop=shop).first()
    rng = np.random.default_rng(5)
    events = [Event(shop=shop, customer=customer, type="view", idempotency_key=uuid.uuid4(),
                    occurred_at=START + dt.timedelta(days=d, minutes=int(m)))
              for d in range(76) for m in rng.integers(0, 600, rng.poisson(60))]
    Event.objects.bulk_create(events)  # views stop on day 76 while orders go on
    found = anomalies_detect(shop=shop, start=dt.date(2024, 3, 10), end=dt.date(2024, 3, 20))
    views = [a for a in found if a.metric == "events_view"]
    assert len(views) == 1 and views[0].direction == "down" and str(views[0].date.date()) == "2024-03-17"
    assert not [a for a in found if a.metric == "orders"]


def test_an_alerts_figures_read_as_their_metric():
    """Session 16's review: "up: 166.0 against 97.5 expected" for a count of orders."""
    from forecasts.templatetags.forecast_tags import metric_value

    assert (metric_value(166.0, "orders"), metric_value(97.5, "orders")) == ("166", "98")
    assert metric_value(2.5, "events_view") == "2.5"
    assert metric_value(0.0423, "refund_rate") == "4.2 %"
    assert metric_value(1234.56, "revenue") == "1,235"
    assert metric_value(820.1, "orders") == "820"  # the forecast table's orders too (it showed "820.1")
    assert metric_value(8.0, "refunds") == "8"  # browser24: a whole count read "8.0"
