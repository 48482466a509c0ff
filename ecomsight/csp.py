"""Content-Security-Policy: django-csp's policy (settings.CONTENT_SECURITY_POLICY) on the pages, a fixed one on JSON.

django-csp's middleware builds the policy string from the settings on every response: about 0.1–0.18 ms, 8–13 %
of an API call's CPU (bench/api.py --in-process, scores). A JSON answer is never rendered as a document, so it
needs none of the pages' sources: JSON answers (the API's, errors included) carry `default-src 'none';
frame-ancestors 'none'` (OWASP's advice for REST APIs), a constant. Every other response (pages, CSV, the API's
schema and docs pages) goes through django-csp as before."""

from __future__ import annotations

from csp.constants import HEADER
from csp.middleware import CSPMiddleware

JSON_POLICY = "default-src 'none'; frame-ancestors 'none'"


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    def process_response(self, request, response):
        if response.get("Content-Type", "").startswith("application/json"):
            response.headers.setdefault(HEADER, JSON_POLICY)
            return response
        return super().process_response(request, response)
