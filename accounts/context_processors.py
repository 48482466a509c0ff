"""What every page's layout needs: the current shop, the user's shops, their role and navigation."""

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied

from .selectors import ROLE_RANK, shop_for_request, shop_list_for_user, user_role


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    active: bool


# (label, path, weakest role that sees it). The pages are built by the apps; link to them here only.
NAV = [
    ("Dashboard", "/", "marketer"),
    ("At-risk", "/customers/", "marketer"),
    ("Likely buyers", "/buyers/", "marketer"),
    ("Segments", "/segments/", "marketer"),
    ("Forecast", "/forecasts/", "marketer"),
    ("Alerts", "/alerts/", "marketer"),
    ("Offers", "/offers/", "marketer"),
    ("Deliveries", "/deliveries/", "marketer"),
    ("Reviews", "/reviews/", "marketer"),
    ("Imports", "/imports/", "analyst"),
    ("Data quality", "/quality/", "analyst"),
    ("Models", "/models/", "analyst"),
    ("Jobs", "/jobs/", "analyst"),
    ("API tokens", "/accounts/tokens/", "marketer"),
    ("Admin", "/admin/", "admin"),
]
# From here on the links go under "More": fifteen links do not fit one line of a 1366 px laptop (a browser review).
NAV_MORE_FROM = "Imports"


def nav_items(*, role: str | None, path: str) -> list[NavItem]:
    """The links `role` may follow (stronger roles see the weaker roles' links); the current page is active."""
    rank = ROLE_RANK.get(role, 0) if role else 0
    items = []
    for label, url, needed in NAV:
        if rank >= ROLE_RANK[needed]:
            active = path == "/" if url == "/" else path.startswith(url)
            items.append(NavItem(label=label, url=url, active=active))
    return items


def nav_split(items: list[NavItem]) -> tuple[list[NavItem], list[NavItem]]:
    """The links of the bar itself and those under "More" (the rarer pages: data, models, jobs, tokens, admin)."""
    labels = [label for label, _, _ in NAV]
    first_more = labels.index(NAV_MORE_FROM)
    return ([i for i in items if labels.index(i.label) < first_more],
            [i for i in items if labels.index(i.label) >= first_more])


def shop_context(request):
    """`current_shop`, `shops`, `role`, `nav` and `nav_more` for the base layout (nothing for anonymous users)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    try:
        current = shop_for_request(request)
    except PermissionDenied:
        current = None  # no shop granted: the page itself says so; the layout must still render
    role = user_role(user=user, shop=current)  # the role in the shop the page shows
    main, more = nav_split(nav_items(role=role, path=request.path_info))
    return {
        "shops": shop_list_for_user(user=user),
        "current_shop": current,
        "role": role,
        "nav": main, "nav_more": more, "nav_more_active": any(i.active for i in more),
    }
