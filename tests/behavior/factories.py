import datetime as dt
import uuid

import factory

from behavior.models import Customer, Event, Order, OrderLine
from tests.accounts.factories import ShopFactory
from tests.catalog.factories import ProductFactory


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    shop = factory.SubFactory(ShopFactory)
    external_id = factory.Sequence(lambda n: f"C{n}")
    country = "DE"
    signup_at = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    customer = factory.SubFactory(CustomerFactory)
    shop = factory.SelfAttribute("customer.shop")
    external_id = factory.Sequence(lambda n: f"O{n}")
    placed_at = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    total = "10.00"
    currency = "EUR"


class OrderLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrderLine

    order = factory.SubFactory(OrderFactory)
    shop = factory.SelfAttribute("order.shop")
    product = factory.SubFactory(ProductFactory, shop=factory.SelfAttribute("..shop"))
    quantity = 1
    unit_price = "10.00"


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    customer = factory.SubFactory(CustomerFactory)
    shop = factory.SelfAttribute("customer.shop")
    type = "view"
    occurred_at = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    idempotency_key = factory.LazyFunction(uuid.uuid4)
