from django.http import QueryDict

from predictions.filters import AtRiskFilter


def test_query_string_round_trip_keeps_every_field_so_shared_links_show_the_same_list():
    flt = AtRiskFilter(bands=("high", "medium"), churn_min=40, churn_max=90, value_min=100.5, value_max=2000,
                       days_min=30, days_max=200, category=7, country="DE", segment=3, limit=50, sort="value")
    back = AtRiskFilter.from_query(QueryDict(flt.to_query_string()))
    assert back == flt
    assert AtRiskFilter.from_dict(flt.to_dict()) == flt


def test_segment_dict_is_json_small_and_omits_defaults():
    assert AtRiskFilter().to_dict() == {}
    assert AtRiskFilter(bands=("high",), churn_min=70).to_dict() == {"bands": ["high"], "churn_min": 70}


def test_bad_values_are_dropped_with_a_message_instead_of_a_server_error():
    flt = AtRiskFilter.from_query(QueryDict("churn_min=abc&churn_max=150&value_min=-5&sort=drop_table&band=purple"))
    assert flt == AtRiskFilter()
    assert len(flt.errors) == 5  # the unknown band is one too (it was dropped silently before issue 16)
    assert flt.sort == "risk"
    assert flt.broken


def test_a_fraction_in_a_whole_number_field_is_an_error_not_rounded_down():
    # Third replay of issue 16: `category_min=10.5` on the page was read as 10 % (a wider list, no notice) while the
    # API refuses 0.105; `churn_min=70.5`, `days_max=3.7`, `limit=2.5` the same.
    flt = AtRiskFilter.from_query(QueryDict("category=5&category_min=10.5&churn_min=70.5&days_max=3.7&limit=2.5"))
    assert (flt.category_min, flt.churn_min, flt.days_max, flt.limit) == (None, None, None, None)
    assert sum("not a whole number" in e for e in flt.errors) == 4 and flt.broken
    assert AtRiskFilter.from_query(QueryDict("category=5&category_min=10.0&days_max=3")).errors == ()


def test_empty_range_is_reported():
    flt = AtRiskFilter.from_query(QueryDict("churn_min=80&churn_max=20"))
    assert any("range is empty" in e for e in flt.errors)


def test_from_dict_ignores_unknown_keys_so_old_segments_keep_working():
    assert AtRiskFilter.from_dict({"bands": ["high"], "retired_field": 1}) == AtRiskFilter(bands=("high",))


def test_comma_decimal_and_plain_dict_bands_are_accepted():
    flt = AtRiskFilter.from_query({"value_min": "12,5", "band": "high"})
    assert flt.value_min == 12.5 and flt.bands == ("high",)


def test_is_empty_ignores_sort_only():
    assert AtRiskFilter(sort="churn").is_empty
    assert not AtRiskFilter(country="FR").is_empty


def test_errors_name_the_fields_as_the_form_labels_them():
    # A marketer read "Churn probability from" and "between 0 and 1000000000000" beside a form that says
    # "Chance of leaving (%)" and "12-month spend" (a browser review).
    errors = AtRiskFilter.from_query({"churn_min": "0.5", "value_min": "-1", "churn_max": "20", "days_min": "x"}).errors
    assert "Chance of leaving from (%): “0.5” is not a whole number." in errors
    assert "12-month spend from must be between 0 and 1,000,000,000,000." in errors
    assert "Days since last order from: “x” is not a number." in errors
    assert AtRiskFilter.from_query({"value_min": "50", "value_max": "10"}).errors == (
        "The 12-month spend range is empty (from is above to).",)
