from .selectors import shop_list_for_user, user_role


def shop_context(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    shops = shop_list_for_user(user=user)
    current = None
    slug = request.session.get("shop")
    for shop in shops:
        if shop.slug == slug:
            current = shop
    if current is None and shops:
        current = shops[0]
    return {"shops": shops, "current_shop": current, "role": user_role(user=user)}
