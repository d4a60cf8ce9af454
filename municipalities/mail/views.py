"""Mail API: letter templates, mailings, items, public tracking, municipal webhooks."""

from __future__ import annotations

from collections import Counter

from flask import Response, current_app, send_file
from flask.views import MethodView

from core.api import Blueprint, paginate
from core.auth.principal import current_principal, require_login
from core.clock import seoul_today
from core.db import db, transaction
from core.extensions import limiter
from core.schemas import PageArgsSchema, page_of
from municipalities.mail import production, webhooks
from municipalities.mail import services as mail
from municipalities.mail.models import MailItem
from municipalities.mail.schemas import (
    BatchSchema,
    ItemQuerySchema,
    MailingCreateSchema,
    MailingSchema,
    MailItemDetailSchema,
    MailItemSchema,
    PreviewSchema,
    PublicTrackingSchema,
    TemplateCreateSchema,
    TemplateSchema,
    WebhookCreateSchema,
    WebhookDeliverySchema,
    WebhookSchema,
    WebhookUpdateSchema,
)
from municipalities.mail.tracking import PUBLIC_LABELS

blp = Blueprint("mail", __name__, "", description="복지등기 발송·추적 (Mailings and tracking)")


@blp.route("/letter-templates")
class Templates(MethodView):
    @blp.arguments(PageArgsSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(TemplateSchema))
    @require_login
    def get(self, page: int, per_page: int):
        """The municipality's letter templates."""
        return paginate(mail.templates_visible_to(current_principal()), page, per_page)

    @blp.arguments(TemplateCreateSchema)
    @blp.response(201, TemplateSchema)
    @require_login
    def post(self, new: mail.NewTemplate):
        """Save a letter template (merge fields are checked)."""
        with transaction():
            return mail.create_template(current_principal(), new)


@blp.route("/letter-templates/<int:template_id>")
class TemplateItem(MethodView):
    @blp.response(200, TemplateSchema)
    @require_login
    def get(self, template_id: int):
        """One letter template."""
        return mail.get_template(current_principal(), template_id)


@blp.route("/mailings")
class Mailings(MethodView):
    @blp.arguments(PageArgsSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(MailingSchema))
    @require_login
    def get(self, page: int, per_page: int):
        """The municipality's mailings, newest first."""
        return paginate(mail.mailings_visible_to(current_principal()), page, per_page)

    @blp.arguments(MailingCreateSchema)
    @blp.response(201, MailingSchema)
    @require_login
    def post(self, new: mail.NewMailing):
        """Save a draft mailing: households (list or filter), template and send date."""
        with transaction():
            return mail.create_mailing(current_principal(), new, seoul_today())


@blp.route("/mailings/<int:mailing_id>")
class MailingItem(MethodView):
    @blp.response(200, MailingSchema)
    @require_login
    def get(self, mailing_id: int):
        """One mailing."""
        return mail.get_mailing(current_principal(), mailing_id)


@blp.route("/mailings/<int:mailing_id>/preview")
class MailingPreview(MethodView):
    @blp.response(200, PreviewSchema)
    @require_login
    def get(self, mailing_id: int):
        """Who would be mailed, who not and why, and one merged letter."""
        with transaction():
            preview = mail.preview_mailing(current_principal(), mailing_id, seoul_today())
        return {
            "mailing_id": preview.mailing.id,
            "household_count": len(preview.households),
            "exclusions": [
                {"household_id": e.household_id, "reason": mail.exclusion_reason(e.reason)}
                for e in preview.exclusions
            ],
            "sample_household_id": preview.sample.id if preview.sample else None,
            "sample_text": preview.sample_text,
            "selection_summary": mail.describe_selection(preview.mailing.selection),
            "offices": {
                str(k): v for k, v in Counter(h.office_id for h in preview.households).items()
            },
        }


@blp.route("/mailings/<int:mailing_id>/preview.pdf")
class MailingPreviewPdf(MethodView):
    @blp.response(200, content_type="application/pdf")
    @require_login
    def get(self, mailing_id: int):
        """The first letter of the mailing as a PDF page (sample registered number)."""
        with transaction():
            pdf = production.preview_pdf(current_principal(), mailing_id, seoul_today())
        return send_file(pdf, mimetype="application/pdf", download_name="preview.pdf")


@blp.route("/mailings/<int:mailing_id>/submit")
class MailingSubmit(MethodView):
    @blp.response(200, MailingSchema)
    @require_login
    def post(self, mailing_id: int):
        """Submit: one item per household with a registered number; a job prints the letters."""
        with transaction():
            return mail.submit_mailing(current_principal(), mailing_id, seoul_today())


@blp.route("/mailings/<int:mailing_id>/batches")
class MailingBatches(MethodView):
    @blp.response(200, BatchSchema(many=True))
    @require_login
    def get(self, mailing_id: int):
        """The letter batches (one per delivery office) of a mailing."""
        mailing = mail.get_mailing(current_principal(), mailing_id)
        query = mail.batches_visible_to(current_principal()).where(
            mail.LetterBatch.mailing_id == mailing.id
        )
        return list(db.session.scalars(query))


@blp.route("/letter-batches/<int:batch_id>")
class BatchItem(MethodView):
    @blp.response(200, BatchSchema)
    @require_login
    def get(self, batch_id: int):
        """One letter batch and its production state."""
        return mail.get_batch(current_principal(), batch_id)


def batch_file(batch_id: int, kind: str) -> Response:
    """Send one of a batch's files ("letters" or "manifest"); the download is access-logged."""
    with transaction():
        download = production.batch_download(current_principal(), batch_id, kind)
    return send_file(download.path(), mimetype=download.mimetype, download_name=download.name)


@blp.route("/letter-batches/<int:batch_id>/letters.pdf")
class BatchPdf(MethodView):
    @blp.response(200, content_type="application/pdf")
    @require_login
    def get(self, batch_id: int):
        """The print-ready letters of the batch (download is access-logged)."""
        return batch_file(batch_id, "letters")


@blp.route("/letter-batches/<int:batch_id>/manifest.csv")
class BatchManifest(MethodView):
    @blp.response(200, content_type="text/csv")
    @require_login
    def get(self, batch_id: int):
        """The batch's CSV manifest for the printing office (download is access-logged)."""
        return batch_file(batch_id, "manifest")


@blp.route("/mail-items")
class Items(MethodView):
    @blp.arguments(ItemQuerySchema, location="query")
    @blp.response(200, page_of(MailItemSchema))
    @require_login
    def get(self, filters: dict):
        """Items visible to the caller (municipality or office)."""
        query = mail.items_visible_to(current_principal())
        if "mailing_id" in filters:
            query = query.where(MailItem.mailing_id == filters["mailing_id"])
        if "status" in filters:
            query = query.where(MailItem.status == filters["status"])
        if filters.get("returned"):
            query = mail.returned_items(current_principal())
        return paginate(query, filters["page"], filters["per_page"])


@blp.route("/mail-items/<int:item_id>")
class ItemDetail(MethodView):
    @blp.response(200, MailItemDetailSchema)
    @require_login
    def get(self, item_id: int):
        """One item with its whole history."""
        with transaction():
            item = mail.get_item(current_principal(), item_id)
            item.events = mail.events_of(item)
            return item


@blp.route("/mail-items/by-number/<string:registered_number>")
class ItemByNumber(MethodView):
    @blp.response(200, MailItemDetailSchema)
    @require_login
    def get(self, registered_number: str):
        """One item by its registered number (check digit validated)."""
        with transaction():
            item = mail.item_by_number(current_principal(), registered_number)
            item.events = mail.events_of(item)
            return item


@blp.route("/tracking/<string:registered_number>")
class PublicTracking(MethodView):
    decorators = [limiter.limit(lambda: current_app.config["RATELIMIT_TRACKING"])]

    @blp.response(200, PublicTrackingSchema)
    @blp.doc(security=[])
    def get(self, registered_number: str):
        """Public lookup: generic steps only (접수, 배달 중, 배달 완료, 반송), no who or why."""
        found = mail.public_lookup(registered_number)
        return {
            "registered_number": found.registered_number,
            "status": found.status.value,
            "status_label": PUBLIC_LABELS[found.status],
            "events": [
                {"status": step.value, "label": PUBLIC_LABELS[step], "at": at}
                for step, at in found.steps
            ],
        }


@blp.route("/webhooks")
class Webhooks(MethodView):
    @blp.response(200, WebhookSchema(many=True))
    @require_login
    def get(self):
        """The municipality's webhook endpoints."""
        return list(db.session.scalars(webhooks.endpoints_visible_to(current_principal())))

    @blp.arguments(WebhookCreateSchema)
    @blp.response(201, WebhookSchema)
    @require_login
    def post(self, data: dict):
        """Register an HTTPS endpoint and a signing secret (municipal admins)."""
        with transaction():
            return webhooks.register_endpoint(current_principal(), data["url"], data["secret"])


@blp.route("/webhooks/<int:endpoint_id>")
class WebhookItem(MethodView):
    @blp.arguments(WebhookUpdateSchema)
    @blp.response(200, WebhookSchema)
    @require_login
    def patch(self, data: dict, endpoint_id: int):
        """Pause or resume an endpoint."""
        with transaction():
            return webhooks.set_endpoint_active(current_principal(), endpoint_id, data["is_active"])


@blp.route("/webhooks/<int:endpoint_id>/deliveries")
class WebhookDeliveries(MethodView):
    @blp.arguments(PageArgsSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(WebhookDeliverySchema))
    @require_login
    def get(self, page: int, per_page: int, endpoint_id: int):
        """The delivery log of an endpoint, newest first."""
        return paginate(webhooks.deliveries_of(current_principal(), endpoint_id), page, per_page)
