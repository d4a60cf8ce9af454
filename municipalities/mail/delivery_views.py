"""Post-side mail API: receive printed batches, record tracking events."""

from __future__ import annotations

from flask.views import MethodView

from core.api import Blueprint
from core.auth.principal import current_principal, require_login
from core.db import transaction
from municipalities.mail import delivery
from municipalities.mail.schemas import BatchSchema, EventCreateSchema, MailItemDetailSchema
from municipalities.mail.services import events_of

blp = Blueprint("delivery", __name__, "", description="집배국 인계·배달 기록 (Delivery side)")


@blp.route("/letter-batches/<int:batch_id>/receive")
class BatchReceive(MethodView):
    @blp.response(200, BatchSchema)
    @require_login
    def post(self, batch_id: int):
        """The delivery office confirms it received the printed letters (dispatchers)."""
        with transaction():
            return delivery.receive_batch(current_principal(), batch_id)


@blp.route("/mail-items/<int:item_id>/events")
class ItemEvents(MethodView):
    @blp.arguments(EventCreateSchema)
    @blp.response(201, MailItemDetailSchema)
    @require_login
    def post(self, new: delivery.NewItemEvent, item_id: int):
        """Record a tracking event for an item of one's office (dispatchers; carriers visit)."""
        with transaction():
            item = delivery.record_item_event(current_principal(), item_id, new)
            item.events = events_of(item)
            return item
