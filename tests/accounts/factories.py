import factory
from django.contrib.auth.models import User

from accounts.models import Membership, Shop


class ShopFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Shop
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"shop-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())


class UserFactory(factory.django.DjangoModelFactory):
    """A user with `role` in each of `shops` (a membership per shop); `role` without `shops` gives the role
    in a shop of its own (created for them), so that the user has somewhere to hold it."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("correct-horse-battery")

    @factory.post_generation
    def shops(self, create, extracted, **kwargs):
        self._factory_shops = list(extracted or [])

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        shops = getattr(self, "_factory_shops", [])
        if not create:
            return
        if extracted and not shops:
            shops = [ShopFactory()]
        for shop in shops:
            if extracted:
                Membership.objects.create(user=self, shop=shop, role=extracted)
        if extracted == "admin" and not self.is_staff:
            self.is_staff = True
            self.save(update_fields=["is_staff"])


def member(user, shop, role: str) -> Membership:
    """Give `user` `role` in `shop` (a second shop with another role, for instance), as the app does."""
    from accounts.services import membership_set

    return membership_set(shop=shop, user=user, role=role)
