"""OpenAPI generation: every operation documents the error format for the statuses it can answer."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    """The one error format (see ecomsight.api.errors)."""

    status = serializers.IntegerField(help_text="The HTTP status, repeated.")
    code = serializers.CharField(help_text="A stable machine-readable code, e.g. `invalid`, `not_found`.")
    message = serializers.CharField(help_text="What is wrong and what to do about it, for people.")
    field = serializers.CharField(allow_null=True, help_text="The field at fault (dotted for nested items), or null.")


_ERRORS = {
    400: ("Invalid input", "invalid",
          "Give a probability from 0 to 1 (0.5 = 50 %), in whole percents: at most two decimals; 50 is out of range.",
          "churn_min"),
    401: ("Missing or bad credentials", "authentication_failed", "Invalid token.", None),
    403: ("The caller's role does not allow this", "permission_denied",
          "This needs the analyst role or a stronger one; your role is marketer.", None),
    404: ("No such object in the token's shop", "not_found", "No such customer.", None),
    405: ("Method not allowed", "method_not_allowed", 'Method "PUT" not allowed.', None),
    406: ("Not acceptable", "not_acceptable", "Could not satisfy the request Accept header.", None),
    415: ("Unsupported media type", "unsupported_media_type", 'Unsupported media type "text/plain" in request.', None),
    429: ("Too many requests", "throttled", "Request was throttled. Expected available in 12 seconds.", None),
}


class ApiAutoSchema(AutoSchema):
    """AutoSchema that adds the error responses (with an example each) to every operation."""

    def _get_request_body(self, direction="request"):
        body = super()._get_request_body(direction)
        # A raw-schema body (the batches) is never marked required by drf-spectacular; views that answer
        # 400 without a body say so with `body_required`.
        if body is not None and getattr(self.view, "body_required", False):
            body["required"] = True
        return body

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if not self.path.startswith("/api/v1/"):
            return responses
        public = getattr(self.view, "public", False)
        for status_code, (description, code, message, field) in _ERRORS.items():
            if str(status_code) in responses or (public and status_code not in (405, 406)):
                continue
            if status_code == 415 and self.method not in ("POST", "PUT", "PATCH"):
                continue
            example = OpenApiExample(code, value={"status": status_code, "code": code, "message": message,
                                                  "field": field}, response_only=True, status_codes=[str(status_code)])
            responses[str(status_code)] = self._get_response_for_code(
                OpenApiResponse(response=ErrorSerializer, description=description, examples=[example]),
                str(status_code), media_types=["application/json"], direction=direction)
        return responses


def documented_get(**schema):
    """Class decorator: the OpenAPI description (extend_schema's arguments) of a generic view's GET, a list or
    a retrieve, without overriding get() only to carry the decorator."""
    return extend_schema_view(get=extend_schema(**schema))
