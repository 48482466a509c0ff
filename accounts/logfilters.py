"""A logging filter that keeps personal data and secrets out of the logs.

Installed on the console handler (settings.LOGGING), so every record that leaves the process through it
is redacted: emails, `Bearer ...` credentials, our API tokens wherever they appear, and `password=`,
`token=`, `secret=`, `api_key=` values in query strings or messages. Tracebacks are redacted too (an
exception's message may quote a request's input)."""

from __future__ import annotations

import logging
import re

# Order matters: credentials first, so an email inside a token-like value cannot survive half-redacted.
_PATTERNS = (
    (re.compile(r"(?i)\b(bearer|token|basic)\s+[A-Za-z0-9._~+/=\-]{8,}"), r"\1 [redacted]"),
    (re.compile(r"\bes_[A-Za-z0-9_\-]{8,}"), "es_[redacted]"),
    (re.compile(r"(?i)\b(password|passwd|secret|token|api[_-]?key|access[_-]?key|sessionid|csrftoken)"
                r"(\"?\s*[=:]\s*\"?)[^\s&\"',;]+"), r"\1\2[redacted]"),
    (re.compile(r"[A-Za-z0-9._%+\-]+(?:@|%40)[A-Za-z0-9.\-]+\.[A-Za-z]{2,}"), "[email]"),
)


def redact(text: str) -> str:
    """`text` with emails, bearer credentials, API tokens and secret-looking parameters replaced."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactFilter(logging.Filter):
    """Rewrites each record's message (and traceback) redacted; never drops a record. A request refused with a
    4xx keeps its one line, without the traceback of the exception that refused it."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and status < 500:
            # Django logs a refused request (403 Permission denied, 400 Bad request) with the exception that
            # refused it: a traceback per refusal, though nothing broke. The one line says what was refused.
            record.exc_info, record.exc_text = None, None
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record must still be logged, as its raw msg
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
