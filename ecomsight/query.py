"""Unknown query parameters on web pages: refused with a notice, never silently ignored.

The API answers 400 naming a parameter it does not know (ecomsight/api/views.py `unknown_query_check`). Web
pages used to ignore one, so `/customers/?bandz=high` listed every band and looked like the list the marketer
asked for. What a marketer expects (decided for issue 16):

- A link holding a parameter the page does not know shows **no list at all**: status 400, the site's layout, a
  notice naming the parameter (and the closest one the page knows, for a typo), the parameters the page takes,
  and two explicit links: the same page without the unknown parameter(s), and the page without any filter.
  Not the list filtered by the parameters we did know: `?bandz=high&country=DE` would list every band in
  Germany, a partial filter that passes for the intended one and can be saved as a segment or exported.
- Web exports (a segment's CSV, the forecast's CSV) refuse the same way: no file is made, so a typo never
  exports the whole list.
- Bad *values* of known parameters keep the page's own notice, with the form to fix them (the at-risk filter
  says which field is wrong; a saved segment with one is broken and matches nobody). The at-risk list then lists
  nothing either, for the same reason, and answers 400 (session 16: `?churn_min=abc` listed every customer
  under the notice, with the "Save as segment" button). The Forecast page, which lists no customers, shows its
  default series instead with a notice saying so (forecasts/views.py); its CSV makes no file.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from functools import wraps
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

SHOWN = 40  # characters of an unknown name echoed back


def unknown_parameters(query, known: Iterable[str]) -> list[str]:
    """The names in `query` (a QueryDict or a dict) that are not in `known`, in the order they came."""
    known = frozenset(known)
    return [key for key in query if key not in known]


def _shown(name: str) -> str:
    """A parameter name as the notice shows it: printable characters only, at most SHOWN of them."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in name)
    return clean[:SHOWN] + ("…" if len(clean) > SHOWN else "")


def known_parameters(*names: str) -> Callable:
    """View decorator: the GET query may hold only `names`; any other answers the notice page (400).

    Put it below the permission decorator, so that who may not see the page never learns what it takes."""
    known = frozenset(names)

    def decorator(view):
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            unknown = unknown_parameters(request.GET, known)
            if unknown:
                return unknown_parameters_page(request, unknown=unknown, known=known)
            return view(request, *args, **kwargs)

        wrapped.known_parameters = known
        return wrapped

    return decorator


def unknown_parameters_page(request: HttpRequest, *, unknown: list[str], known: frozenset[str]) -> HttpResponse:
    """The notice page: which parameters are unknown (with a likely meant one), what the page takes, and links
    to the page without them and without any filter."""
    problems = []
    for name in unknown[:5]:
        close = difflib.get_close_matches(name.lower(), sorted(known), n=1, cutoff=0.6)
        problems.append({"name": _shown(name), "meant": close[0] if close else None})
    kept = [(key, value) for key in request.GET if key in known for value in request.GET.getlist(key)]
    return render(request, "unknown_parameter.html", {
        "problems": problems, "more": max(len(unknown) - 5, 0), "known": sorted(known),
        "without": f"{request.path}?{urlencode(kept)}" if kept else request.path, "bare": request.path,
        "has_kept": bool(kept),
    }, status=400)
