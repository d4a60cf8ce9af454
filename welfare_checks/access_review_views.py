"""The access-log review API: municipal admins and auditors read, download and check reviews."""

from __future__ import annotations

from flask import Response
from flask.views import MethodView

from core.api import Blueprint, paginate
from core.auth.principal import current_principal, require_login, require_role
from core.db import transaction
from core.schemas import PageArgsSchema, page_of
from core.web import download
from welfare_checks import access_review
from welfare_checks.access_review_schemas import (
    AccessReviewDetailSchema,
    AccessReviewSchema,
    ReviewCheckSchema,
)

blp = Blueprint(
    "access_reviews", __name__, "", description="개인정보 접속기록 점검 (Access-log reviews)"
)


@blp.route("/access-reviews")
class Reviews(MethodView):
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, page_of(AccessReviewSchema))
    @require_role(*access_review.REVIEWERS)
    def get(self, query: dict):
        """The municipality's monthly access-log reviews, newest month first."""
        select = access_review.reviews_visible_to(current_principal())
        return paginate(select, query["page"], query["per_page"])


@blp.route("/access-reviews/<int:review_id>")
class ReviewItem(MethodView):
    @blp.response(200, AccessReviewDetailSchema)
    @require_login
    def get(self, review_id: int):
        """One review: per account accesses, households (counts), exports, off-hours; findings."""
        return access_review.get_review(current_principal(), review_id)


@blp.route("/access-reviews/<int:review_id>/check")
class ReviewCheck(MethodView):
    @blp.arguments(ReviewCheckSchema)
    @blp.response(200, AccessReviewSchema)
    @require_login
    def post(self, data: dict, review_id: int):
        """Mark the review as checked with a note; who and when are recorded (once)."""
        with transaction():
            return access_review.mark_checked(current_principal(), review_id, data["note"])


def _download(review_id: int, kind: str) -> Response:
    with transaction():  # the download is access-logged
        body, media, name = access_review.review_file(current_principal(), review_id, kind)
    return download(body, media, name)


@blp.route("/access-reviews/<int:review_id>/review.csv")
class ReviewCsv(MethodView):
    @blp.response(200, content_type="text/csv")
    @require_login
    def get(self, review_id: int):
        """The review as CSV (UTF-8 with BOM; the download is access-logged)."""
        return _download(review_id, "csv")


@blp.route("/access-reviews/<int:review_id>/review.xlsx")
class ReviewXlsx(MethodView):
    @blp.response(200, content_type=access_review.XLSX)
    @require_login
    def get(self, review_id: int):
        """The review as an XLSX workbook, a sheet per table (the download is access-logged)."""
        return _download(review_id, "xlsx")
