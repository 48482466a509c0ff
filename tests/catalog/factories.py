import factory

from catalog.models import Category, Product
from tests.accounts.factories import ShopFactory


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ("shop", "path")

    shop = factory.SubFactory(ShopFactory)
    name = factory.Sequence(lambda n: f"Category {n}")
    path = factory.LazyAttribute(lambda o: o.name)


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    shop = factory.SubFactory(ShopFactory)
    external_id = factory.Sequence(lambda n: f"P{n}")
    title = factory.Sequence(lambda n: f"Product {n}")
    price = "9.99"
