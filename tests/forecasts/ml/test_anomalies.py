"""forecasts.ml.anomalies: faults found on their first day, one alert per outage, quiet on clean data."""

import numpy as np
import pandas as pd

from forecasts.ml.anomalies import count_score, daily_metrics_frame, detect, group


def _orders(days=200, seed=0, rate=25.0):
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=days, freq="D")
    weekly = np.where(dates.day_of_week >= 5, 1.4, 1.0)
    counts = rng.poisson(rate * weekly)
    placed = np.repeat(dates.values, counts)
    n = len(placed)
    return pd.DataFrame({"order_id": np.arange(n), "customer_id": rng.integers(0, 2000, n),
                         "placed_at": pd.to_datetime(placed, utc=True), "total": rng.gamma(2.0, 20.0, n),
                         "item_count": 1.0, "status": np.where(rng.random(n) < 0.03, "refunded", "placed")})


def test_clean_history_raises_no_alert_in_four_months():
    orders = _orders(seed=1)
    alerts = detect(daily_metrics_frame(orders=orders), start=pd.Timestamp("2024-03-01"))
    assert len({a.group for a in alerts}) <= 1


def test_a_three_day_outage_is_one_alert_on_its_first_day_and_a_refund_burst_is_found():
    orders = _orders(seed=2)
    day = pd.Timestamp("2024-06-10")
    d = orders["placed_at"].dt.tz_convert(None).dt.normalize()
    outage = orders[~((d >= day) & (d < day + pd.Timedelta(days=3)))].copy()
    burst_day = pd.Timestamp("2024-05-02")
    hit = ((d == burst_day) & (np.arange(len(orders)) % 3 == 0)).to_numpy()[
        ~((d >= day) & (d < day + pd.Timedelta(days=3))).to_numpy()]
    outage.loc[hit, "status"] = "refunded"
    alerts = detect(daily_metrics_frame(orders=outage), start=pd.Timestamp("2024-04-01"))
    down = [a for a in alerts if a.metric == "orders" and a.direction == "down" and a.segment == "shop"]
    assert len(down) == 1  # three days, one alert
    assert down[0].date == day and down[0].end == day + pd.Timedelta(days=2)
    assert down[0].actual == 0 and down[0].expected > 15
    # Orders and revenue fell together: the same incident.
    revenue = [a for a in alerts if a.metric == "revenue" and a.date == day]
    assert revenue and revenue[0].group == down[0].group
    assert any(a.metric in ("refunds", "refund_rate") and a.direction == "up" and a.date == burst_day
               for a in alerts)


def test_muted_monitor_is_skipped():
    orders = _orders(seed=3)
    d = orders["placed_at"].dt.tz_convert(None).dt.normalize()
    orders = orders[d != pd.Timestamp("2024-06-01")]
    metrics = daily_metrics_frame(orders=orders)
    found = detect(metrics, start=pd.Timestamp("2024-05-25"))
    assert any(a.metric == "orders" for a in found)
    muted = detect(metrics, start=pd.Timestamp("2024-05-25"), muted={("orders", "shop")})
    assert not any(a.metric == "orders" for a in muted)


def test_a_stopped_event_feed_shows_as_a_drop_of_that_type_only():
    orders = _orders(days=120, seed=4)
    rng = np.random.default_rng(4)
    days = pd.date_range("2024-01-01", periods=120, freq="D")
    rows = []
    for t, rate in (("view", 300), ("add_to_cart", 40)):
        counts = rng.poisson(rate, len(days))
        if t == "view":
            counts[100:] = 0
        rows.append(pd.DataFrame({"customer_id": 1, "type": t,
                                  "occurred_at": pd.to_datetime(np.repeat(days.values, counts), utc=True)}))
    events = pd.concat(rows)
    alerts = detect(daily_metrics_frame(orders=orders, events=events), start=days[90])
    views = [a for a in alerts if a.metric == "events_view"]
    assert views and views[0].date == days[100] and views[0].direction == "down"
    assert not [a for a in alerts if a.metric == "events_add_to_cart"]


def test_count_score_knows_a_drop_to_zero_is_rarer_than_a_normal_approximation_says():
    assert count_score(0, 20, np.sqrt(20)) < -5.5
    assert abs(count_score(20, 20, np.sqrt(20))) < 1
    assert count_score(100, 20, np.sqrt(20)) > 8


def test_group_joins_consecutive_days_and_splits_directions():
    day = pd.Timestamp("2024-01-10")
    found = [{"metric": "orders", "segment": "shop", "day": day + pd.Timedelta(days=k), "expected": 10.0,
              "actual": 0.0, "score": -6.0} for k in range(3)]
    found.append({"metric": "orders", "segment": "shop", "day": day + pd.Timedelta(days=4), "expected": 10.0,
                  "actual": 60.0, "score": 9.0})
    alerts = group(found)
    assert [(a.date, a.end, a.direction) for a in alerts] == [
        (day, day + pd.Timedelta(days=2), "down"), (day + pd.Timedelta(days=4), day + pd.Timedelta(days=4), "up")]


def test_random_cancellations_raise_no_alert_and_a_cancellation_burst_does():
    """An outside review: every order cancelled with 5 % chance (about 36 orders a day) raised a cancel_rate alert
    ("expected 0.025, actual 0.167"): the expected share was the median of daily shares, below the true 5 %."""
    from forecasts.ml.anomalies import share_score

    quiet_days = 0
    for seed in range(3):
        orders = _orders(seed=10 + seed, rate=30.0)
        rng = np.random.default_rng(seed)
        orders["status"] = np.where(rng.random(len(orders)) < 0.05, "cancelled", "placed")
        alerts = detect(daily_metrics_frame(orders=orders), start=pd.Timestamp("2024-03-01"))
        quiet_days += not any(a.metric in ("cancel_rate", "cancellations") for a in alerts)
    assert quiet_days == 3
    d = orders["placed_at"].dt.tz_convert(None).dt.normalize()
    burst = (d == pd.Timestamp("2024-06-03")).to_numpy() & (np.arange(len(orders)) % 2 == 0)
    orders.loc[burst, "status"] = "cancelled"
    alerts = detect(daily_metrics_frame(orders=orders), start=pd.Timestamp("2024-05-01"))
    assert any(a.metric == "cancel_rate" and a.direction == "up" and a.date == pd.Timestamp("2024-06-03")
               for a in alerts)
    assert abs(share_score(6 / 36, 0.048, 36) - 2.4) < 0.3  # the review's day: not an anomaly at z 5


def test_a_shop_whose_products_share_one_category_has_no_category_monitors():
    """An outside review: every spike of a shop without categories was reported twice, for the shop and for
    "category:uncategorised"."""
    orders = _orders(seed=3, days=60)
    lines = pd.DataFrame({"order_id": orders["order_id"], "product_id": 1.0, "quantity": 1.0,
                          "unit_price": 10.0, "category_id": np.nan})
    segments = set(daily_metrics_frame(orders=orders, order_lines=lines)["segment"])
    assert segments == {"shop"}
    lines["category_id"] = np.where(orders["order_id"] % 2 == 0, 1.0, 2.0)
    names = {1.0: "A", 2.0: "B"}
    segments = set(daily_metrics_frame(orders=orders, order_lines=lines, category_names=names)["segment"])
    assert segments == {"shop", "category:A", "category:B"}


def test_two_refunds_after_weeks_without_any_are_not_an_alert():
    """A second reader's case: with no refund in the last 28 days the pooled share was 0, clipped to 1e-6, and
    2 refunds of 36 orders scored 6."""
    orders = _orders(seed=5, days=90, rate=36.0)
    orders["status"] = "placed"
    d = orders["placed_at"].dt.tz_convert(None).dt.normalize()
    day = pd.Timestamp("2024-03-20")
    orders.loc[orders.index[(d == day).to_numpy()][:2], "status"] = "refunded"
    alerts = detect(daily_metrics_frame(orders=orders), start=pd.Timestamp("2024-03-01"))
    assert not [a for a in alerts if a.metric in ("refund_rate", "refunds")]


def _without_days(orders, first, days):
    d = orders["placed_at"].dt.tz_convert(None).dt.normalize()
    return orders[~((d >= first) & (d < first + pd.Timedelta(days=days)))].copy()


def test_a_three_week_outage_is_one_alert_to_its_end_and_the_recovery_is_no_rise():
    """An outside analyst (session 20): after a 3-week outage the baseline had learned the zeros, so the down alert
    ended after two weeks and the recovery raised 28 "up" alerts against an expected 0 over 17 days."""
    first = pd.Timestamp("2024-05-01")
    orders = _without_days(_orders(seed=5), first, 21)
    alerts = detect(daily_metrics_frame(orders=orders), start=pd.Timestamp("2024-04-20"))
    down = [a for a in alerts if (a.metric, a.segment, a.direction) == ("orders", "shop", "down")]
    assert [(a.date, a.end) for a in down] == [(first, first + pd.Timedelta(days=20))]
    assert not [a for a in alerts if a.direction == "up" and a.date > first], [
        (a.metric, a.date, a.expected) for a in alerts if a.direction == "up"]


def test_orders_that_stop_while_events_go_on_are_an_outage_not_the_end_of_the_data():
    orders = _orders(days=120, seed=6)
    last = pd.Timestamp("2024-04-10")
    orders = orders[orders["placed_at"].dt.tz_convert(None) < last]
    views = pd.date_range("2024-01-01", "2024-04-20 22:00", freq="15min", tz="UTC")
    events = pd.DataFrame({"customer_id": 1, "occurred_at": views, "type": "view"})
    start = pd.Timestamp("2024-04-14")
    assert not [a for a in detect(daily_metrics_frame(orders=orders, events=events), start=start)
                if a.metric == "orders"]  # the order monitors ended with the last order
    metrics = daily_metrics_frame(orders=orders, events=events, until=pd.Timestamp("2024-04-20"))
    down = [a for a in detect(metrics, start=start) if (a.metric, a.segment) == ("orders", "shop")]
    assert [(a.direction, a.date, a.end, a.actual) for a in down] == [
        ("down", start, pd.Timestamp("2024-04-20"), 0.0)]


def test_a_day_without_orders_inside_a_wide_forecast_band_is_flagged_and_an_expected_peak_is_not():
    """An outside analyst: 0 orders on three days a forecast covered with a 95 % band of 4 to 100 raised nothing."""
    first = pd.Timestamp("2024-06-10")
    orders = _without_days(_orders(seed=7), first, 3)
    metrics = daily_metrics_frame(orders=orders)
    days = pd.date_range("2024-06-01", "2024-06-30", freq="D")
    bands = pd.DataFrame({"metric": "orders", "segment": "shop", "day": days, "expected": 28.0, "lo": 4.0,
                          "hi": 100.0})
    for band in (bands, bands.assign(lo=0.0)):  # a band down to 0 hides no outage (a re-check: 14 July was missed)
        down = [a for a in detect(metrics, start=days[0], bands=band) if (a.metric, a.segment) == ("orders", "shop")]
        assert [(a.direction, a.date, a.end) for a in down] == [("down", first, first + pd.Timedelta(days=2))]
    # A peak of three times the usual orders is inside a band that expected it: no alert from the baseline.
    peak = _orders(seed=7)
    d = peak["placed_at"].dt.tz_convert(None).dt.normalize()
    peak = pd.concat([peak, peak[d == pd.Timestamp("2024-06-20")], peak[d == pd.Timestamp("2024-06-20")]])
    expected_peak = bands.assign(expected=np.where(bands["day"] == pd.Timestamp("2024-06-20"), 95.0, 28.0),
                                 hi=150.0)
    assert not [a for a in detect(daily_metrics_frame(orders=peak), start=days[0], bands=expected_peak)
                if (a.metric, a.segment, a.direction) == ("orders", "shop", "up")]
    # A band that merely covers the peak (its forecast expected the usual 28) does not hide it, nor does no band.
    for covering in (bands.assign(hi=150.0), None):
        assert [a for a in detect(daily_metrics_frame(orders=peak), start=days[0], bands=covering)
                if (a.metric, a.segment, a.direction) == ("orders", "shop", "up")]
    # Just past a band far above the baseline (a promotion the forecast expected): not the baseline's to judge.
    metrics = daily_metrics_frame(orders=peak)
    day = pd.Timestamp("2024-06-20")
    actual = metrics[(metrics["metric"] == "orders") & (metrics["segment"] == "shop") & (metrics["day"] == day)][
        "value"].iloc[0]
    promotion = pd.DataFrame({"metric": ["orders"], "segment": ["shop"], "day": [day], "expected": [actual * 0.8],
                              "lo": [actual * 0.6], "hi": [actual - 2.0]})
    assert not [a for a in detect(metrics, start=days[0], bands=promotion)
                if (a.metric, a.segment, a.date) == ("orders", "shop", day)]


def test_a_burst_on_a_sparse_count_is_one_rise_not_four_weeks_of_drop():
    """A second reader: with the level of a sparse count taken as its mean, one day of 1,000 sign-ups among days of
    about 3 raised the level for 28 days, and the days after read as a 4-week drop."""
    rng = np.random.default_rng(3)
    days = pd.date_range("2024-01-01", periods=200, freq="D")
    counts = rng.poisson(3, len(days))
    counts[days == pd.Timestamp("2024-05-01")] = 1000
    times = pd.to_datetime(np.repeat(days.values, counts), utc=True)
    events = pd.DataFrame({"customer_id": 1, "occurred_at": times, "type": "signup"})
    found = [a for a in detect(daily_metrics_frame(orders=_orders(days=200), events=events),
                               start=pd.Timestamp("2024-04-25")) if a.metric == "events_signup"]
    assert [(a.direction, a.date) for a in found] == [("up", pd.Timestamp("2024-05-01"))]


def test_a_shop_that_starts_closing_on_sundays_is_alerted_until_the_sunday_factor_learns_it():
    """A second reader: outage days left out of the weekday factors too kept a new closing day an outage for ten
    weeks; the factors read every day, so the alerts stop after four Sundays, as before the outage rule."""
    orders = _orders(days=300, seed=8)
    placed = orders["placed_at"].dt.tz_convert(None)
    orders = orders[~((placed >= pd.Timestamp("2024-05-05")) & (placed.dt.day_of_week == 6))]
    down = [a for a in detect(daily_metrics_frame(orders=orders), start=pd.Timestamp("2024-05-01"))
            if (a.metric, a.segment, a.direction) == ("orders", "shop", "down")]
    assert 1 <= len(down) <= 4 and max(a.date for a in down) <= pd.Timestamp("2024-05-26")


def test_one_order_on_a_closed_day_against_a_band_of_nothing_is_no_alert():
    """A re-check (session 20): a B2B shop's forecast of 0 to 0 on Saturdays made one Saturday order an "up" alert
    with a score of 1e9 (the band's width as the spread, and no minimum of 5 orders on the band's path)."""
    orders = _orders(days=120, seed=9)
    day = orders["placed_at"].dt.tz_convert(None).dt.normalize()
    saturday = pd.Timestamp("2024-04-27")
    one = orders[day == saturday].index.min()
    orders = orders[(day.dt.day_of_week != 5) | (orders.index == one)]
    metrics = daily_metrics_frame(orders=orders)
    bands = pd.DataFrame({"metric": ["orders", "revenue"], "segment": "shop", "day": saturday, "expected": 0.0,
                          "lo": 0.0, "hi": 0.0})
    assert not [a for a in detect(metrics, start=pd.Timestamp("2024-04-20"), bands=bands) if a.date == saturday]


def test_a_sparse_count_is_not_expected_to_be_zero_on_a_weekday_that_happened_to_have_none():
    """An outside analyst: "cancellations, expected 0.0, actual 5" against a rate of 2.7 a day. The weekday factors of
    a count of about one a day were medians of mostly empty days, 0 for some weekdays; such a count keeps its rate
    every day. On these two shops (cancellations about once a day) the old rule raised exactly such alerts."""
    for seed in (3, 5):
        rng = np.random.default_rng(seed)
        dates = pd.date_range("2024-01-01", periods=240, freq="D")
        placed = np.repeat(dates.values, rng.poisson(25.0, len(dates)))
        n = len(placed)
        orders = pd.DataFrame({"order_id": np.arange(n), "customer_id": rng.integers(0, 2000, n),
                               "placed_at": pd.to_datetime(placed, utc=True), "total": rng.gamma(2.0, 20.0, n),
                               "item_count": 1.0, "status": np.where(rng.random(n) < 0.04, "cancelled", "placed")})
        found = [a for a in detect(daily_metrics_frame(orders=orders), start=pd.Timestamp("2024-03-15"))
                 if a.metric == "cancellations"]
        assert found == [], [(a.date, a.expected, a.actual) for a in found]


def test_a_drop_that_skips_a_weekend_stays_one_alert():
    """An outside analyst: new customers that stopped for good came out as three alerts, split where a weekend's
    expected count was too low to flag (two days without a flag)."""
    days = [pd.Timestamp("2024-04-18"), pd.Timestamp("2024-04-19"), pd.Timestamp("2024-04-22"),
            pd.Timestamp("2024-04-23")]
    found = [{"metric": "new_customers", "segment": "shop", "day": d, "expected": 20.0, "actual": 0.0, "score": -6.0}
             for d in days]
    alerts = group(found)
    assert len({a.group for a in alerts}) == 1 and alerts[0].date == days[0]
    # A week apart, they are two alerts.
    later = {**found[0], "day": pd.Timestamp("2024-05-01")}
    assert len({a.group for a in group([found[0], later])}) == 2


def test_a_small_shop_that_goes_silent_is_one_down_alert_for_the_whole_silence_and_no_rise_after_it():
    # An outside analyst's shop of 2.3 orders a day went 92 days without an order and `detect_anomalies` said "No
    # anomalies": each day alone was below the 5-order minimum. The silence's expected orders add up; the first day
    # after it is judged against the level before it (it was "revenue up, expected 0.0").
    orders = _orders(days=365, seed=3, rate=2.3)
    d = orders["placed_at"].dt.tz_convert(None).dt.normalize()
    start, stop = pd.Timestamp("2024-09-02"), pd.Timestamp("2024-12-03")
    silent = orders[~((d >= start) & (d < stop))]
    alerts = detect(daily_metrics_frame(orders=silent), start=pd.Timestamp("2024-03-01"))
    down = [a for a in alerts if (a.metric, a.segment, a.direction) == ("orders", "shop", "down")]
    assert [(a.date, a.end) for a in down] == [(start, stop - pd.Timedelta(days=1))]
    assert not [a for a in alerts if a.direction == "up" and a.date >= stop]
    # The same shop without the silence: nothing, however many of its days have no order.
    assert d[(d >= start) & (d < stop)].nunique() < 92  # days without an order happen
    assert not detect(daily_metrics_frame(orders=orders), start=pd.Timestamp("2024-03-01"))


def test_a_shop_whose_orders_come_in_weekly_batches_is_not_an_outage_every_week_nor_a_rise_every_monday():
    # A second reader: orders only on Mondays (18 a week) made each Tuesday-to-Sunday a silent run of about 15
    # expected orders: "orders down" for weeks on end. Its usual quiet days are no outage; a longer silence is.
    rng = np.random.default_rng(5)
    days = pd.date_range("2024-01-01", periods=364, freq="D")
    mondays = days[days.day_of_week == 0]
    placed = np.repeat(mondays.values, rng.poisson(18, len(mondays)))
    orders = pd.DataFrame({"order_id": np.arange(len(placed)), "customer_id": rng.integers(0, 500, len(placed)),
                           "placed_at": pd.to_datetime(placed, utc=True) + pd.Timedelta(hours=9),
                           "total": rng.gamma(2.0, 20.0, len(placed)), "item_count": 1.0, "status": "placed"})
    alerts = detect(daily_metrics_frame(orders=orders), start=pd.Timestamp("2024-03-01"))
    # Nor is each Monday a rise from nothing (it was, for orders, revenue and new customers: 86 alerts a year).
    assert alerts == [], [(a.metric, a.direction, a.date, a.expected) for a in alerts]
    d = orders["placed_at"].dt.tz_convert(None).dt.normalize()
    skipped = orders[~((d >= pd.Timestamp("2024-09-02")) & (d < pd.Timestamp("2024-09-24")))]  # four Mondays
    alerts = detect(daily_metrics_frame(orders=skipped), start=pd.Timestamp("2024-03-01"))
    down = [a for a in alerts if (a.metric, a.segment, a.direction) == ("orders", "shop", "down")]
    # One alert from the first Monday without its batch until the orders come again (not one per Monday).
    assert [(a.date, a.end) for a in down] == [(pd.Timestamp("2024-09-02"), pd.Timestamp("2024-09-29"))]
    assert len({a.group for a in alerts}) == 1


def test_a_big_customers_routine_orders_every_third_day_are_no_alert_and_a_bigger_one_still_is():
    # An outside analyst's B2B shop: orders of about 40 (100 a day) and one customer's order of 2,000-30,000 every
    # third day raised "revenue up, expected 102.81" every third day: the baseline reads the ordinary days.
    orders = _orders(days=240, seed=11, rate=2.5)
    rng = np.random.default_rng(11)
    big_days = pd.date_range("2024-01-01", periods=80, freq="3D")
    big = pd.DataFrame({"order_id": np.arange(len(big_days)) + 10**6, "customer_id": 99_999,
                        "placed_at": pd.to_datetime(big_days, utc=True) + pd.Timedelta(hours=10),
                        "total": rng.uniform(2_000, 30_000, len(big_days)), "item_count": 1.0, "status": "placed"})
    shop = pd.concat([orders, big], ignore_index=True)
    alerts = detect(daily_metrics_frame(orders=shop), start=pd.Timestamp("2024-03-01"))
    assert not [a for a in alerts if a.direction == "up"], [(a.metric, a.date, a.expected, a.actual) for a in alerts]
    # An order ten times the customer's biggest is still news.
    day = pd.Timestamp("2024-06-05")
    huge = pd.DataFrame({"order_id": [2 * 10**6], "customer_id": [99_999],
                         "placed_at": [pd.Timestamp(day, tz="UTC") + pd.Timedelta(hours=11)], "total": [300_000.0],
                         "item_count": [1.0], "status": ["placed"]})
    found = detect(daily_metrics_frame(orders=pd.concat([shop, huge], ignore_index=True)), start=day, end=day)
    assert [(a.metric, a.direction) for a in found] == [("revenue", "up")]


def test_a_rise_just_big_enough_to_flag_is_not_taken_for_routine_by_ordinary_days_above_the_level():
    """A second reader: with any two days within 50 % of the day counting as "seen before", a 1.7x day of a shop of
    100 orders a day (z 6.7) was dropped - ordinary days above the level came that close. Only past rises count."""
    orders = _orders(days=170, seed=0, rate=100.0)
    day = pd.Timestamp("2024-06-05")
    d = orders["placed_at"].dt.tz_convert(None).dt.normalize()
    extra = orders[d == day].sample(n=170 - int((d == day).sum()), replace=True, random_state=0)
    extra = extra.assign(order_id=np.arange(len(extra)) + 10**7)  # 170 orders on a weekday of about 100
    found = detect(daily_metrics_frame(orders=pd.concat([orders, extra], ignore_index=True)), start=day, end=day)
    assert ("orders", "up") in [(a.metric, a.direction) for a in found]


def test_a_season_seen_the_two_years_before_is_no_alert_and_a_spike_inside_it_still_is():
    """An outside analyst: a shop whose Decembers are 4x its Novembers, four years alike, got "orders up" on
    1 December and "orders down" for ten days of January whenever no forecast covered them."""
    rng = np.random.default_rng(3)
    dates = pd.date_range("2020-01-01", "2024-01-31", freq="D")
    counts = rng.poisson(60 * np.where(dates.month == 12, 4.0, 1.0) * np.where(dates.day_of_week >= 5, 1.3, 1.0))
    placed = np.repeat(dates.values, counts)
    n = len(placed)
    orders = pd.DataFrame({"order_id": np.arange(n), "customer_id": rng.integers(0, 20000, n),
                           "placed_at": pd.to_datetime(placed, utc=True) + pd.Timedelta(hours=12),
                           "total": rng.gamma(2.0, 20.0, n), "item_count": 1.0, "status": "placed"})
    assert detect(daily_metrics_frame(orders=orders), start=pd.Timestamp("2023-11-20"),
                  end=pd.Timestamp("2024-01-20")) == []
    # A spike of 3x inside the season is still news (the years before rose 4x from November, not 12x).
    d = orders["placed_at"].dt.tz_convert(None).dt.normalize()
    day = pd.Timestamp("2023-12-13")
    extra = orders[d == day].sample(frac=2.0, replace=True, random_state=0)
    extra = extra.assign(order_id=np.arange(len(extra)) + 10**8)
    found = detect(daily_metrics_frame(orders=pd.concat([orders, extra], ignore_index=True)), start=day, end=day)
    assert ("orders", "up") in [(a.metric, a.direction) for a in found]


def test_the_average_order_is_judged_only_on_days_with_enough_orders_to_have_one():
    """An outside analyst: a shop growing from a few orders a day to hundreds raised "aov up" on days of 1 to 15
    orders (one order of 85.90, score 5.66) once its average volume passed the monitor's floor."""
    early, late = _orders(days=240, seed=11, rate=2.0), _orders(days=240, seed=12, rate=60.0)
    late["placed_at"] += pd.Timedelta(days=240)
    late["order_id"] += len(early)
    orders = pd.concat([early, late], ignore_index=True)
    d = orders["placed_at"].dt.tz_convert(None).dt.normalize()
    quiet_day, busy_day = pd.Timestamp("2024-06-10"), pd.Timestamp("2025-02-10")
    orders.loc[d == quiet_day, "total"] *= 6  # one or two orders, dear ones: no news
    orders.loc[d == busy_day, "total"] *= 3  # sixty orders worth three times the usual: news
    alerts = [a for a in detect(daily_metrics_frame(orders=orders), start=pd.Timestamp("2024-03-01"))
              if a.metric == "aov" and a.segment == "shop"]
    assert [a.date for a in alerts] == [busy_day]


def _black_friday(year: int) -> pd.Timestamp:
    """The day after the 4th Thursday of November."""
    nov = pd.date_range(f"{year}-11-01", f"{year}-11-30", freq="D")
    return nov[nov.day_of_week == 3][3] + pd.Timedelta(days=1)


def _gift_shop(seed=5):
    """Five years of a gift shop: 25 orders a day, rising from 1 November to 3x by 20 December, and a Black Friday
    weekend (7x on the Friday, 4x on Cyber Monday) every year."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2021-01-01", "2025-12-31", freq="D")
    k = (dates - pd.to_datetime([f"{y}-11-01" for y in dates.year])).days.to_numpy()
    season = np.where((k >= 0) & (k <= 49), 1 + 2 * k / 49, 1.0)
    season = np.where((k > 49) & (k <= 56), 3 - 2 * (k - 49) / 7, season)
    rate = 25.0 * season * np.where(dates.day_of_week >= 5, 1.3, 1.0)
    for year in range(2021, 2026):
        for offset, factor in ((0, 7.0), (1, 3.0), (2, 2.5), (3, 4.0)):
            rate[dates == _black_friday(year) + pd.Timedelta(days=offset)] *= factor
    counts = rng.poisson(rate)
    placed = np.repeat(dates.values, counts)
    n = len(placed)
    return pd.DataFrame({"order_id": np.arange(n), "customer_id": rng.integers(0, 10**6, n),
                         "placed_at": pd.to_datetime(placed, utc=True) + pd.Timedelta(hours=12),
                         "total": rng.gamma(2.0, 20.0, n), "item_count": 1.0, "status": "placed"})


def test_black_friday_moving_a_week_against_364_days_back_is_no_alert_and_a_spike_beside_it_still_is():
    """An outside analyst's gift shop: Black Friday 2024 (29 November) was "orders up", "revenue up" and
    "new_customers up" - 364 days back is 1 December 2023, and Black Friday 2023 was a week earlier (24 November),
    outside the +-3 days the years before were read at. 2025 the same."""
    orders = _gift_shop()
    metrics = daily_metrics_frame(orders=orders)
    for year in (2023, 2024, 2025):
        bf = _black_friday(year)
        found = detect(metrics, start=bf - pd.Timedelta(days=4), end=bf + pd.Timedelta(days=5))
        assert [(a.metric, a.date.date()) for a in found] == [], year
    # Still news: a 5x spike on an ordinary November day, and a Black Friday three times its usual.
    d = orders["placed_at"].dt.tz_convert(None).dt.normalize()
    for day, added in ((pd.Timestamp("2024-11-12"), 4.0), (_black_friday(2024), 2.0)):
        extra = orders[d == day].sample(frac=added, replace=True, random_state=0)
        extra = extra.assign(order_id=np.arange(len(extra)) + 10**8)
        found = detect(daily_metrics_frame(orders=pd.concat([orders, extra], ignore_index=True)), start=day, end=day)
        assert ("orders", "up") in [(a.metric, a.direction) for a in found], day


def test_black_friday_with_a_forecast_that_saw_it_coming_leaves_no_monitor_flagging_it():
    """The live path: a forecast covers orders and revenue on Black Friday, none covers new customers - which the
    years before (a week off 364 days back) must then keep quiet (an outside analyst: "new_customers up" every
    year)."""
    metrics = daily_metrics_frame(orders=_gift_shop())
    bf = _black_friday(2024)
    days = metrics[(metrics["segment"] == "shop") & metrics["metric"].isin(["orders", "revenue"])
                   & (metrics["day"] >= bf - pd.Timedelta(days=4)) & (metrics["day"] <= bf + pd.Timedelta(days=5))]
    # A forecast that expected each day's value, its 95 % band +-30 %.
    bands = days.assign(expected=days["value"], lo=days["value"] * 0.7, hi=days["value"] * 1.3)
    found = detect(metrics, start=bf - pd.Timedelta(days=4), end=bf + pd.Timedelta(days=5),
                   bands=bands[["metric", "segment", "day", "expected", "lo", "hi"]])
    assert [(a.metric, a.date.date()) for a in found] == []
