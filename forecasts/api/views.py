"""GET /api/v1/forecasts/?level=…&measure=…[&freq=week|day][&key=…]: the latest forecast run's series."""

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView

from ecomsight.api.views import ShopApiMixin, query_names

from ..selectors import forecast_key_find, forecast_keys, forecast_run_latest, forecast_series_list
from .serializers import ForecastOutputSerializer, ForecastQuerySerializer

KEYS_LISTED = 20  # keys named in the refusal of an unknown one

FORECAST_EXAMPLE = {
    "run_id": 12, "cutoff": "2026-06-30", "created_at": "2026-07-01T02:45:03Z", "level": "country",
    "measure": "orders", "freq": "week", "champion": "customer", "validation_wape_pct": 6.2,
    "series": [{"key": "DE", "model": "customer", "values": [
        {"date": "2026-07-07", "point": 412.5, "lo80": 380.1, "hi80": 444.9, "lo95": 362.9, "hi95": 462.1}]}],
}


class ForecastListApi(ShopApiMixin, APIView):
    """The latest forecast of one level and measure: per series its champion model and its values with bands."""

    required_roles = {"GET": "marketer"}
    query_parameters = {"GET": query_names(ForecastQuerySerializer)}

    @extend_schema(operation_id="forecasts_list", summary="The latest forecast of a level and measure",
                   tags=["forecasts"], parameters=[ForecastQuerySerializer],
                   responses={200: ForecastOutputSerializer},
                   examples=[OpenApiExample("forecast", value=FORECAST_EXAMPLE, response_only=True)])
    def get(self, request):
        query = ForecastQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        run = forecast_run_latest(shop_id=self.shop.pk)
        if run is None:
            raise exceptions.NotFound("No forecast yet: run `python manage.py forecast` (it also runs nightly).")
        key = q.get("key")
        if key is not None:
            keys = forecast_keys(run=run, level=q["level"], measure=q["measure"], freq=q["freq"])
            found = forecast_key_find(keys=keys, wanted=key, level=q["level"])
            if found is None:  # an empty series with 200 read as "nothing forecast" (a new user's key=de)
                listed = ", ".join(keys[:KEYS_LISTED]) + (f" … ({len(keys)} in all)" if len(keys) > KEYS_LISTED
                                                          else "")
                raise exceptions.ValidationError({"key": [exceptions.ErrorDetail(
                    f"No series “{key[:40]}” at the {q['level']} level of the latest forecast ({q['measure']} per "
                    f"{q['freq']}): " + (f"its keys are {listed}." if keys else "it has no series."),
                    code="invalid_choice")]})
            key = found
        series = forecast_series_list(run=run, level=q["level"], measure=q["measure"], freq=q["freq"], key=key)
        info = run.summary.get("levels", {}).get(q["level"], {}).get(q["measure"], {}).get(q["freq"], {})
        return Response({
            "run_id": run.pk, "cutoff": run.cutoff.isoformat(), "created_at": run.created_at,
            "level": q["level"], "measure": q["measure"], "freq": q["freq"],
            "champion": info.get("champion"), "validation_wape_pct": info.get("validation_wape_pct"),
            "series": series,
        })
