"""Writes for offers: train a policy (and promote it only when it is surely better), evaluate a policy
off-policy, and assign offers to customers with exploration, logging each assignment's propensity.

The bridge between the database and `offers.ml`: selectors → frames → ml → results saved here."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.db import transaction
from django.utils import timezone

from accounts.models import Shop
from behavior.models import Customer
from ecomsight.errors import UserError

from .ingest import offer_none_ensure
from .ml.estimators import EstimatorConfig
from .ml.evaluation import LoggedData, PolicySpecError, policy_evaluate
from .ml.policy import PolicyConfig, RewardModelConfig, policy_probabilities, reward_model_fit, reward_model_from_json
from .models import Assignment, Offer, PolicyVersion
from .selectors import (
    FEATURES,
    assignment_frame,
    assignments_recent,
    customer_context_frame,
    eligibility_matrix,
    offer_choice_probabilities,
    offer_list,
    offer_settings_get,
    policy_current,
)

REWARDS = ("conversion", "net_revenue")
MIN_ASSIGNMENTS = 50


def _logged_data(*, shop: Shop, reward: str, extra_offers: tuple[str, ...] = ()) -> tuple[LoggedData, int]:
    """The logs as `LoggedData`. Its offers are those logged, plus `extra_offers` (shop offers never logged: a
    policy choosing them is refused by the overlap guard rather than named unknown)."""
    if reward not in REWARDS:
        raise UserError(f"Unknown reward '{reward}': use conversion or net_revenue.", field="reward")
    frames = assignment_frame(shop=shop)
    frame = frames.frame
    if len(frame) < MIN_ASSIGNMENTS:
        raise UserError(
            f"Only {len(frame)} logged assignments have a closed {frames.attribution_days}-day attribution window "
            f"({frames.pending} still open; the latest order is {frames.clock or 'missing'}): at least "
            f"{MIN_ASSIGNMENTS} are needed. Import more assignments and the orders after them.")
    offers = tuple(sorted(frame["offer"].unique()))
    offers += tuple(o for o in extra_offers if o not in offers)
    index = {offer: i for i, offer in enumerate(offers)}
    by_id = {o.external_id: o for o in Offer.objects.filter(shop=shop, external_id__in=offers)}
    eligible = eligibility_matrix(shop=shop, offers=[by_id[o] for o in offers], context=frame)
    data = LoggedData(
        x=frame[list(FEATURES)].to_numpy(dtype=float), features=FEATURES,
        action=frame["offer"].map(index).to_numpy(dtype=np.int64),
        propensity=frame["propensity"].to_numpy(dtype=float),
        reward=frame["converted" if reward == "conversion" else "revenue"].to_numpy(dtype=float),
        offers=offers, binary=reward == "conversion", eligible=eligible)
    return data, frames.pending


def _version_probabilities(version: PolicyVersion, data: LoggedData) -> np.ndarray:
    """The (n, K) probabilities the stored policy `version` gives the logged rows, over `data.offers`."""
    model = reward_model_from_json(version.params["reward_model"])
    known = version.offers
    predicted = np.full((len(data.action), len(data.offers)), -np.inf)
    raw = model.predict(data.x)
    eligible = np.zeros_like(predicted, dtype=bool) if data.eligible is None else data.eligible.copy()
    for j, offer in enumerate(data.offers):
        if offer in known:
            predicted[:, j] = raw[:, known.index(offer)]
        else:
            eligible[:, j] = False
    predicted = np.where(np.isfinite(predicted), predicted, 0.0)
    return policy_probabilities(predicted=predicted, eligible=eligible, config=_policy_config(version))


def _policy_config(version: PolicyVersion) -> PolicyConfig:
    return PolicyConfig(epsilon=version.epsilon, control_share=version.control_share)


def offer_policy_evaluate(*, shop: Shop, policy: str, reward: str = "conversion",
                          config: EstimatorConfig | None = None) -> dict:
    """Estimate off-policy what `policy` (always:OFFER_ID, model or logged) would have earned on the shop's
    logged assignments: IPS, SNIPS and DR with 95 % bootstrap intervals, the effective sample size and the
    overlap guard's verdict. The learned policy is cross-fitted (never scored on rows it was trained on)."""
    extra = ()
    if policy.startswith("always:") and Offer.objects.filter(shop=shop, external_id=policy[7:]).exists():
        extra = (policy[7:],)
    data, _pending = _logged_data(shop=shop, reward=reward, extra_offers=extra)
    settings = offer_settings_get(shop=shop)
    current = policy_current(shop=shop)
    try:
        evaluation = policy_evaluate(
            data=data, spec=policy, reward_name=reward, reward_config=RewardModelConfig(binary=data.binary),
            policy_config=PolicyConfig(epsilon=settings.epsilon, control_share=settings.control_share),
            estimator_config=config,
            current=_version_probabilities(current, data) if current is not None and policy == "model" else None)
    except PolicySpecError as exc:
        raise UserError(str(exc), field="policy") from None
    return evaluation.as_json()


@dataclass(frozen=True)
class TrainOutcome:
    """A trained policy version, whether it was promoted, and its held-out evaluation."""

    version: PolicyVersion
    promoted: bool
    report: dict


@transaction.atomic
def offer_policy_train(*, shop: Shop, reward: str = "conversion", algorithm: str = "linear",
                       config: EstimatorConfig | None = None) -> TrainOutcome:
    """Fit a policy on the logs: a reward model per offer + ε-greedy exploration + the random control share.

    Its value is estimated on assignments it was not trained on (cross-fitting over time blocks) beside the
    current policy (or the logged one) and the best single offer; it becomes current only when the 95 %
    interval of its gain over the current policy lies above zero, otherwise it stays a candidate."""
    if algorithm not in ("linear", "lightgbm"):
        raise UserError("Unknown algorithm: use linear or lightgbm.", field="algorithm")
    data, pending = _logged_data(shop=shop, reward=reward)
    settings = offer_settings_get(shop=shop)
    policy_config = PolicyConfig(epsilon=settings.epsilon, control_share=settings.control_share)
    reward_config = RewardModelConfig(algorithm=algorithm, binary=data.binary)
    current = policy_current(shop=shop)
    current_probs = _version_probabilities(current, data) if current is not None else None
    evaluation = policy_evaluate(data=data, spec="model", reward_name=reward, reward_config=reward_config,
                                 policy_config=policy_config, estimator_config=config, current=current_probs)
    singles = {}
    for offer in data.offers:
        single = policy_evaluate(data=data, spec=f"always:{offer}", reward_name=reward,
                                 reward_config=reward_config, policy_config=policy_config,
                                 estimator_config=config, fitted=evaluation.fitted)
        singles[offer] = single.as_json()
    model = reward_model_fit(x=data.x, action=data.action, reward=data.reward, n_actions=len(data.offers),
                             features=data.features, config=reward_config)
    by_reward = {reward: None if evaluation.result.refused else evaluation.as_json()["estimates"].get("dr")}
    other = "net_revenue" if reward == "conversion" else "conversion"
    by_reward[other] = _other_reward_value(shop=shop, reward=other, probabilities=evaluation.fitted.probabilities,
                                           config=config)
    promoted = bool(evaluation.gain and evaluation.gain.promote)
    # The strongest simple peer, on the same logs: the best single offer for everyone (by its DR estimate).
    reported = {offer: s["estimates"]["dr"]["value"] for offer, s in singles.items() if not s["refused"]}
    best_single = max(reported, key=reported.get) if reported else None
    report = {
        "reward": reward, "algorithm": algorithm, "n": len(data.action), "pending": pending,
        "offers": list(data.offers), "evaluation": evaluation.as_json(),
        "compared_with": "current policy" if current is not None else "logged policy",
        # The same held-out choices valued in both rewards (DR, per assignment): what the planner multiplies.
        "value_by_reward": by_reward,
        "best_single_offer": None if best_single is None else {"offer": best_single,
                                                                 **singles[best_single]["estimates"]["dr"]},
        "single_offers": {offer: s["estimates"].get("dr", s["estimates"]["snips"]) | {"refused": s["refused"]}
                          for offer, s in singles.items()},
    }
    version = PolicyVersion.objects.create(
        shop=shop, reward=reward, algorithm=f"{algorithm}+epsilon_greedy", epsilon=settings.epsilon,
        control_share=settings.control_share, features=list(data.features), offers=list(data.offers),
        params={"reward_model": model.to_json()}, metrics=report, trained_on=len(data.action))
    if promoted:
        PolicyVersion.objects.filter(shop=shop, status=PolicyVersion.Status.CURRENT).update(
            status=PolicyVersion.Status.RETIRED)
        version.status = PolicyVersion.Status.CURRENT
        version.save(update_fields=["status"])
    report = {"policy_version": version.pk, "status": version.status, "promoted": promoted, **report}
    return TrainOutcome(version=version, promoted=promoted, report=report)


def _other_reward_value(*, shop: Shop, reward: str, probabilities: np.ndarray,
                        config: EstimatorConfig | None) -> dict | None:
    """The DR estimate (per assignment) of the held-out policy choices `probabilities` in another reward."""
    from .ml.estimators import off_policy_estimate
    from .ml.policy import cross_fit

    data, _ = _logged_data(shop=shop, reward=reward)
    rows = np.arange(len(data.action))
    fitted = cross_fit(x=data.x, action=data.action, reward=data.reward, n_actions=len(data.offers),
                       features=data.features, reward_config=RewardModelConfig(binary=data.binary))
    result = off_policy_estimate(propensity=data.propensity, reward=data.reward,
                                 target_prob=probabilities[rows, data.action],
                                 q_logged=fitted.predicted[rows, data.action],
                                 q_target=np.sum(probabilities * fitted.predicted, axis=1), config=config)
    return None if result.refused else result.estimates["dr"].as_json()


@dataclass(frozen=True)
class AssignedOffer:
    """What a customer gets: the offer, the probability it was drawn with, whether by the random control."""

    customer_id: int
    customer_external_id: str
    offer_id: str
    offer_name: str
    offer_kind: str
    offer_value: float | None
    propensity: float
    is_control: bool
    policy_version: int | None
    assignment_id: str
    assigned_at: datetime
    expected_conversion: float | None
    expected_net_revenue: float | None

    def as_json(self) -> dict:
        return {"customer_id": self.customer_external_id, "offer_id": self.offer_id,
                "offer": {"name": self.offer_name, "kind": self.offer_kind, "value": self.offer_value},
                "propensity": round(self.propensity, 6), "is_control": self.is_control,
                "policy_version": self.policy_version, "assignment_id": self.assignment_id,
                "assigned_at": self.assigned_at.isoformat(), "expected_conversion": self.expected_conversion,
                "expected_net_revenue": self.expected_net_revenue}


@transaction.atomic
def offers_assign(*, shop: Shop, customer_ids: list[int], channel: str, at: datetime | None = None,
                  seed: int | None = None) -> list[AssignedOffer]:
    """Pick an offer for each customer with the current policy and log each assignment with its propensity,
    its context and the policy version, in bulk. With probability control_share the offer is drawn uniformly
    from the customer's eligible offers (the random control); without a current policy, everyone is drawn so.
    A customer assigned within the last 24 hours gets that assignment again."""
    at = at or timezone.now()
    offer_none_ensure(shop_id=shop.pk)
    offers = offer_list(shop=shop, active_only=True)
    if not offers:
        raise UserError("The shop has no active offers: import some with import_data offers FILE.")
    settings = offer_settings_get(shop=shop)
    version = policy_current(shop=shop)
    customer_ids = list(dict.fromkeys(customer_ids))
    recent = assignments_recent(shop=shop, customer_ids=customer_ids, at=at)
    fresh = [c for c in customer_ids if c not in recent]
    context = customer_context_frame(shop=shop, customer_ids=fresh, at=at)
    externals = dict(Customer.objects.filter(shop=shop, id__in=customer_ids).values_list("id", "external_id"))
    created: list[Assignment] = []
    expected: dict[int, tuple[float | None, float | None]] = {}
    if len(context):
        control_share = 1.0 if version is None else settings.control_share
        uniform, learned, predicted = offer_choice_probabilities(shop=shop, offers=offers, context=context,
                                                                 version=version)
        probabilities = control_share * uniform + (1 - control_share) * learned
        rng = np.random.default_rng(seed)
        is_control = rng.random(len(context)) < control_share
        source = np.where(is_control[:, None], uniform, learned)
        draws = rng.random(len(context))[:, None]
        chosen = np.minimum((draws > np.cumsum(source, axis=1)).sum(axis=1), len(offers) - 1)
        features = list(FEATURES)
        records = context[features].to_dict("records")
        for i, customer_id in enumerate(context["customer_id"].astype(int).tolist()):
            j = int(chosen[i])
            created.append(Assignment(
                shop=shop, external_id=f"{channel}-{uuid.uuid4().hex}", customer_id=customer_id,
                offer=offers[j], assigned_at=at, propensity=float(probabilities[i, j]),
                context={k: (None if v != v else round(float(v), 6)) for k, v in records[i].items()},
                policy_version=version, source=Assignment.Source.POLICY, is_control=bool(is_control[i]),
                channel=channel))
            if predicted is not None and version.reward == "conversion":
                expected[customer_id] = (float(predicted[i, j]), None)
            elif predicted is not None:
                expected[customer_id] = (None, float(predicted[i, j]))
        Assignment.objects.bulk_create(created, batch_size=2000)
    out = []
    for assignment in list(recent.values()) + created:
        conversion, revenue = expected.get(assignment.customer_id, (None, None))
        offer = assignment.offer
        out.append(AssignedOffer(
            customer_id=assignment.customer_id, customer_external_id=externals.get(assignment.customer_id, ""),
            offer_id=offer.external_id, offer_name=offer.name, offer_kind=offer.kind,
            offer_value=None if offer.value is None else float(offer.value), propensity=assignment.propensity,
            is_control=assignment.is_control, policy_version=assignment.policy_version_id,
            assignment_id=assignment.external_id, assigned_at=assignment.assigned_at,
            expected_conversion=conversion, expected_net_revenue=revenue))
    order = {c: i for i, c in enumerate(customer_ids)}
    return sorted(out, key=lambda a: order.get(a.customer_id, 0))


def next_best_offer(*, shop: Shop, customer_external_id: str) -> AssignedOffer:
    """The offer the current policy gives one customer now (logged as an assignment, channel "api")."""
    customer_id = Customer.objects.filter(shop=shop, external_id=customer_external_id).values_list(
        "id", flat=True).first()
    if customer_id is None:
        raise Customer.DoesNotExist(customer_external_id)
    return offers_assign(shop=shop, customer_ids=[customer_id], channel="api")[0]


def export_offer_ids(shop_id: int):
    """For segment exports: a function of customer ids → {customer id: offer_id}, each drawn by the current
    policy and logged (channel "export"). A shop without offers gets an empty column and no assignments. A
    customer drawn for the "no offer" arm (kind none) gets an empty cell, whatever the shop calls that arm: a
    campaign tool would otherwise print its id ("NONE") as a code; the assignment is logged all the same."""
    shop = Shop.objects.get(pk=shop_id)
    if not Offer.objects.filter(shop=shop, active=True).exists():
        return lambda customer_ids: {}

    def offers_for(customer_ids) -> dict[int, str]:
        if not customer_ids:
            return {}
        return {a.customer_id: "" if a.offer_kind == Offer.Kind.NONE else a.offer_id
                for a in offers_assign(shop=shop, customer_ids=list(customer_ids), channel="export")}
    return offers_for
