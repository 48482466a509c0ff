"""The campaign's measured lift: targeted customers' purchase rate against the control group's, after the horizon."""

from datetime import timedelta

import pytest
from django.utils import timezone

from predictions.models import SegmentExport
from predictions.selectors.campaigns import CampaignLift, campaign_lift_list, segment_campaigns
from predictions.services.segments import export_create
from tests.accounts.factories import UserFactory
from tests.predictions.factories import OrderFactory, ScoringRunFactory, SegmentFactory, scored_customers

pytestmark = pytest.mark.django_db


@pytest.fixture
def marketer(shop):
    return UserFactory(role="marketer", shops=[shop])


@pytest.fixture
def segment(shop):
    run = ScoringRunFactory(shop=shop)
    scored_customers(shop, run, [{"external_id": f"K{i:02d}", "p": 0.5} for i in range(20)])
    return SegmentFactory(shop=shop, name="Win back", filters={})


def export_days_ago(*, shop, segment, user, days, control_pct=25):
    """An export with a control group, moved `days` into the past (as if made then)."""
    plan = export_create(shop=shop, segment=segment, user=user, control_pct=control_pct)
    at = timezone.now() - timedelta(days=days)
    SegmentExport.objects.filter(pk=plan.export.pk).update(created_at=at)
    plan.export.refresh_from_db()
    return plan.export


def customers_of(export):
    from behavior.models import Customer

    by_id = Customer.objects.in_bulk(export.targeted_customer_ids + export.control_customer_ids)
    return [by_id[i] for i in export.targeted_customer_ids], [by_id[i] for i in export.control_customer_ids]


def test_lift_counts_buyers_in_the_window_exactly_once_each(shop, segment, marketer):
    export = export_days_ago(shop=shop, segment=segment, user=marketer, days=100)
    targeted, control = customers_of(export)
    assert (len(targeted), len(control)) == (15, 5)
    start, end = export.created_at, export.created_at + timedelta(days=90)
    for c in targeted[:6]:  # six targeted buyers, one of them twice
        OrderFactory(customer=c, placed_at=start + timedelta(days=3))
    OrderFactory(customer=targeted[0], placed_at=start + timedelta(days=40))
    OrderFactory(customer=targeted[5], placed_at=end)  # the window's last instant counts
    OrderFactory(customer=control[0], placed_at=start + timedelta(days=10))
    # None of these is a purchase within (export time, export time + horizon]:
    OrderFactory(customer=targeted[6], placed_at=start + timedelta(days=5), status="cancelled")
    OrderFactory(customer=targeted[7], placed_at=start)  # at the export itself: before the campaign
    OrderFactory(customer=targeted[8], placed_at=start - timedelta(days=1))
    OrderFactory(customer=control[1], placed_at=end + timedelta(seconds=1))

    [lift] = campaign_lift_list(shop=shop, segment=segment)
    assert (lift.targeted, lift.control, lift.targeted_buyers, lift.control_buyers) == (15, 5, 6, 1)
    assert lift.targeted_rate == 0.4 and lift.control_rate == 0.2
    assert lift.lift_points == pytest.approx(20.0) and lift.relative_lift == pytest.approx(1.0)
    assert lift.summary == ("Of the 15 customers you targeted, 40 % bought within 90 days; of the 5 held back, "
                            "20 % did: the campaign lifted purchases by 20 points (100 % more buyers than without it).")
    assert "too few to be sure" in lift.caution


def test_refunded_orders_still_count_as_purchases(shop, segment, marketer):
    export = export_days_ago(shop=shop, segment=segment, user=marketer, days=95)
    targeted, _ = customers_of(export)
    OrderFactory(customer=targeted[0], placed_at=export.created_at + timedelta(days=1), status="refunded")
    [lift] = campaign_lift_list(shop=shop, segment=segment)
    assert lift.targeted_buyers == 1


def test_another_shops_orders_and_other_segments_exports_are_not_counted(shop, other_shop, segment, marketer):
    export = export_days_ago(shop=shop, segment=segment, user=marketer, days=100)
    other_segment = SegmentFactory(shop=shop, filters={})
    export_days_ago(shop=shop, segment=other_segment, user=marketer, days=100)
    targeted, _ = customers_of(export)
    OrderFactory(customer=targeted[0], placed_at=export.created_at + timedelta(days=1))
    lifts = campaign_lift_list(shop=other_shop, segment=segment)
    assert lifts == []
    assert [lift.export_id for lift in campaign_lift_list(shop=shop, segment=segment)] == [export.pk]


def test_one_query_per_finished_campaign_not_per_customer(shop, segment, marketer, django_assert_num_queries):
    for days in (100, 200, 5):
        export_days_ago(shop=shop, segment=segment, user=marketer, days=days)
    # the exports' dates, the first files' customers, then a buyers' query for each of the two finished
    with django_assert_num_queries(4):
        lifts = campaign_lift_list(shop=shop, segment=segment)
    assert [lift.ready for lift in lifts] == [False, True, True]


def test_files_of_a_segment_within_an_exports_horizon_are_one_campaign_not_several(shop, segment, marketer):
    # A marketer downloaded one segment with a 20 % and then a 10 % control to compare presets: two "campaigns"
    # of the same customers were listed (a browser review). One campaign now, measured on its first file's groups
    # (intention to treat): rebuilding the groups from the later files dropped the control's buyers, who leave the
    # segment once they buy (a second reader: "0 % of the held back bought" where half of both groups did).
    first = export_days_ago(shop=shop, segment=segment, user=marketer, days=100, control_pct=20)
    second = export_days_ago(shop=shop, segment=segment, user=marketer, days=99, control_pct=10)
    later = export_days_ago(shop=shop, segment=segment, user=marketer, days=5, control_pct=20)
    assert set(second.control_customer_ids) < set(first.control_customer_ids)  # the segment's own draw, nested
    targeted, control = customers_of(first)
    for c in targeted[:8] + control[:2]:  # half of each group buys
        OrderFactory(customer=c, placed_at=first.created_at + timedelta(days=3))
    pending, campaign = campaign_lift_list(shop=shop, segment=segment)
    assert (pending.export_id, pending.files, pending.ready) == (later.pk, 1, False)
    assert (campaign.export_id, campaign.files) == (first.pk, 2)
    assert (campaign.targeted, campaign.control) == (16, 4)
    assert (campaign.targeted_buyers, campaign.control_buyers) == (8, 2)
    assert campaign.lift_points == pytest.approx(0.0)
    assert campaign.later_files.startswith("This campaign is 2 files of this segment")

def test_export_whose_horizon_has_not_passed_says_when_the_result_is_ready(shop, segment, marketer):
    export = export_days_ago(shop=shop, segment=segment, user=marketer, days=10)
    [lift] = campaign_lift_list(shop=shop, segment=segment)
    due = timezone.localtime(export.created_at + timedelta(days=90))
    assert not lift.ready and lift.lift_points is None and lift.caution == ""
    assert lift.summary == (f"15 customers targeted, 5 held back. The result will be ready on "
                            f"{due.day} {due:%b %Y}, 90 days after the export.")


def test_export_without_a_control_group_has_no_lift(shop, segment, marketer):
    export_days_ago(shop=shop, segment=segment, user=marketer, days=100, control_pct=0)
    assert campaign_lift_list(shop=shop, segment=segment) == []


def lift(t, tb, c, cb):
    now = timezone.now()
    return CampaignLift(export_id=1, exported_at=now, horizon_days=90, due_at=now, targeted=t, control=c,
                        targeted_buyers=tb, control_buyers=cb)


def test_p_value_is_the_two_sided_two_proportion_z_test():
    from scipy.stats import norm

    result = lift(450, 140, 50, 11)
    pooled = 151 / 500
    z = (140 / 450 - 11 / 50) / (pooled * (1 - pooled) * (1 / 450 + 1 / 50)) ** 0.5
    assert result.p_value == pytest.approx(2 * norm.sf(abs(z)))
    low, high = result.interval_points
    assert low < result.lift_points < high and low < 0  # 9 points on 50 held back: could be nothing


@pytest.mark.parametrize(("numbers", "says", "caution"), [
    ((450, 140, 50, 11), "the campaign lifted purchases by 9.1 points", "too few to be sure"),
    ((4000, 1200, 1000, 220), "the campaign lifted purchases by 8 points (36.4 % more buyers", ""),
    ((4000, 800, 1000, 200), "the campaign made no difference to purchases", ""),
    ((400, 90, 100, 18), "the campaign lifted purchases by 4.5 points", "could be chance"),
    ((4000, 800, 1000, 250), "those targeted bought less, by 5 points", ""),
])
def test_result_in_words_with_a_caution_only_when_the_groups_cannot_tell(numbers, says, caution):
    result = lift(*numbers)
    assert says in result.summary
    assert (caution in result.caution) if caution else result.caution == ""


def test_segment_page_reports_the_lift_in_words(client, shop, segment, marketer):
    export = export_days_ago(shop=shop, segment=segment, user=marketer, days=100)
    targeted, _ = customers_of(export)
    for c in targeted[:3]:
        OrderFactory(customer=c, placed_at=export.created_at + timedelta(days=2))
    export_days_ago(shop=shop, segment=segment, user=marketer, days=5)  # after the first one's horizon: a new one
    client.force_login(marketer)
    page = client.get(f"/segments/{segment.pk}/").content.decode()
    assert "What your campaigns changed" in page
    assert ("Of the 15 customers you targeted, 20 % bought within 90 days; of the 5 held back, 0 % did: "
            "the campaign lifted purchases by 20 points.") in page
    assert "too few to be sure" in page
    assert "The result will be ready on" in page


def test_segment_page_without_a_control_group_export_has_no_lift_only_not_measured(client, shop, segment, marketer):
    client.force_login(marketer)
    assert "What your campaigns changed" not in client.get(f"/segments/{segment.pk}/").content.decode()
    export_days_ago(shop=shop, segment=segment, user=marketer, days=100, control_pct=0)
    page = client.get(f"/segments/{segment.pk}/").content.decode()
    assert "Not measured: 1 file held nobody back" in page and "Targeted (" not in page


def test_a_test_download_without_a_control_group_does_not_swallow_the_files_after_it(shop, segment, marketer):
    # A new user's first (test) download held nobody back (the form's default); the four files with a 20 % control
    # made after it were folded into its campaign, and the segment page said "5 files ... held nobody back ... no one
    # left to compare with" (a browser review). Only a file with a control group starts a campaign now.
    export_days_ago(shop=shop, segment=segment, user=marketer, days=100, control_pct=0)
    first = export_days_ago(shop=shop, segment=segment, user=marketer, days=99, control_pct=20)
    for days in (98, 97, 96):
        export_days_ago(shop=shop, segment=segment, user=marketer, days=days, control_pct=20)
    targeted, control = customers_of(first)
    for c in targeted[:8] + control[:1]:
        OrderFactory(customer=c, placed_at=first.created_at + timedelta(days=1))
    result = segment_campaigns(shop=shop, segment=segment)
    [campaign] = result.campaigns
    assert (campaign.export_id, campaign.files, campaign.uncontrolled_at) == (first.pk, 4, None)
    assert (campaign.targeted, campaign.control, campaign.targeted_buyers, campaign.control_buyers) == (16, 4, 8, 1)
    assert campaign.summary.startswith("Of the 16 customers you targeted, 50 % bought within 90 days; of the 4 held "
                                       "back, 25 % did")
    assert campaign.later_files == ("This campaign is 4 files of this segment, made within 90 days of the first; it "
                                    "is measured on the first file's groups.")
    made = timezone.localtime(timezone.now() - timedelta(days=100))
    assert result.unmeasured_text.startswith(f"Not measured: 1 file held nobody back ({made.day} {made:%b %Y}).")


def test_a_file_without_a_control_group_within_a_campaign_belongs_to_it_and_outside_is_not_measured(
        shop, segment, marketer):
    # A file without a control after one with a control: measured on the first, the difference said to be at most
    # an understatement.
    first = export_days_ago(shop=shop, segment=segment, user=marketer, days=300, control_pct=20)
    export_days_ago(shop=shop, segment=segment, user=marketer, days=298, control_pct=0)
    # Files without a control group alone are no experiment: listed as not measured, latest first.
    export_days_ago(shop=shop, segment=segment, user=marketer, days=100, control_pct=0)
    export_days_ago(shop=shop, segment=segment, user=marketer, days=5, control_pct=0)
    result = segment_campaigns(shop=shop, segment=segment)
    [oldest] = result.campaigns
    assert (oldest.export_id, oldest.control, oldest.files) == (first.pk, 4, 2)
    assert "held nobody back and may have reached customers held back here" in oldest.later_files
    assert len(result.unmeasured) == 2 and result.unmeasured[0] > result.unmeasured[1]
    assert result.unmeasured_text.startswith("Not measured: 2 files held nobody back (")


def test_segment_page_lists_a_test_download_as_not_measured_and_measures_the_next_file(
        client, shop, segment, marketer):
    export_days_ago(shop=shop, segment=segment, user=marketer, days=100, control_pct=0)
    later = export_days_ago(shop=shop, segment=segment, user=marketer, days=99, control_pct=20)
    export_days_ago(shop=shop, segment=segment, user=marketer, days=98, control_pct=20)
    OrderFactory(customer=customers_of(later)[0][0], placed_at=later.created_at + timedelta(days=1))
    client.force_login(marketer)
    page = client.get(f"/segments/{segment.pk}/").content.decode()
    assert "no one left to compare with" not in page
    assert ("Of the 16 customers you targeted, 6.2 % bought within 90 days; of the 4 held back, 0 % did") in page
    assert "This campaign is 2 files of this segment" in page
    assert "Not measured: 1 file held nobody back" in page
