from django.apps import AppConfig


class OffersConfig(AppConfig):
    name = "offers"

    def ready(self) -> None:
        # The two import kinds of this app plug into behavior's ingest (behavior cannot import us).
        from behavior.ingest.services import kind_writer_register

        from .ingest import assignments_batch_write, offers_batch_write

        kind_writer_register(kind="offers", writer=offers_batch_write)
        kind_writer_register(kind="offer_assignments", writer=assignments_batch_write)

        # Segment exports carry the offer each customer is given (predictions cannot import us).
        from predictions.extensions import offers_provide

        from .services import export_offer_ids

        offers_provide(export=export_offer_ids)
