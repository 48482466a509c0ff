"""The Offers page (offers, policies, results per offer and per policy version) and the campaign planner."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.permissions import role_required
from accounts.selectors import shop_for_request
from ecomsight.query import known_parameters
from predictions.selectors.segments import segment_get, segment_member_ids

from . import selectors


@role_required("marketer")
def offer_page(request: HttpRequest) -> HttpResponse:
    """Offers, the settings, the policy versions with their held-out evaluation, and the logged results."""
    shop = shop_for_request(request)
    frame = selectors.assignment_frame(shop=shop).frame
    return render(request, "offers/offers.html", {
        "offers": selectors.offer_list(shop=shop),
        "settings": selectors.offer_settings_get(shop=shop),
        "versions": selectors.policy_versions(shop=shop), "current": selectors.policy_current(shop=shop),
        "by_offer": selectors.offer_results(shop=shop, by="offer", frame=frame),
        "by_policy": selectors.offer_results(shop=shop, by="policy", frame=frame),
    })


@role_required("marketer")
@known_parameters()
def offer_plan_page(request: HttpRequest, segment_id: int) -> HttpResponse:
    """The campaign planner of a segment: the offer each customer would get, expected outcomes with intervals."""
    shop = shop_for_request(request)
    segment = segment_get(shop=shop, segment_id=segment_id)
    plan = selectors.offer_plan(shop=shop, customer_ids=segment_member_ids(shop=shop, segment=segment))
    return render(request, "offers/plan.html", {"segment": segment, "plan": plan})
