"""The job API: follow a job an upload started (its progress, then its result or refusal)."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields

from core import jobs
from core.api import Blueprint, paginate
from core.auth.principal import current_principal, require_login
from core.schemas import PageArgsSchema, page_of

blp = Blueprint("jobs", __name__, "", description="작업 (Jobs: imports run by a worker)")

#: The header of a 202 that started a job (documented on every such operation).
LOCATION = {
    "Location": {
        "description": "the job to follow: GET it until its status is done or failed",
        "required": True,
        "schema": {"type": "string"},
    }
}


class JobProgressSchema(Schema):
    phase = fields.String(
        allow_none=True,
        metadata={
            "description": "parse (reading the file), validate (checking its rows), write "
            "(applying them, all or nothing), retry (waiting for another try); null before start"
        },
    )
    done = fields.Integer(metadata={"description": "rows done in this phase"})
    total = fields.Integer(
        allow_none=True, metadata={"description": "rows in this phase (null: not known yet)"}
    )


class JobErrorSchema(Schema):
    code = fields.String()
    message = fields.String()
    fields_ = fields.Dict(attribute="fields", data_key="fields")


class JobSchema(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"description": "household_import | office_item_import"})
    status = fields.String(metadata={"enum": list(jobs.STATUSES)})
    progress = fields.Nested(JobProgressSchema)
    result = fields.Dict(
        allow_none=True,
        metadata={
            "description": "when finished: household_import, the row report (as a dry run "
            "answers it, also when the import was refused); office_item_import, "
            "{day, created, item_ids}"
        },
    )
    error = fields.Nested(
        JobErrorSchema,
        allow_none=True,
        metadata={"description": "when failed: the refusal, as the error body's `error` member"},
    )
    account_id = fields.Integer(allow_none=True, metadata={"description": "who started it"})
    municipality_id = fields.Integer(allow_none=True)
    office_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)


class JobSummarySchema(JobSchema):
    """A job in a list: without its result and error (a row report may be long)."""

    class Meta:
        exclude = ("result", "error")


def accepted(job: jobs.Job) -> tuple[jobs.Job, int, dict[str, str]]:
    """202 with the job and its Location to follow (the view's 202 response is JobSchema)."""
    return job, 202, {"Location": f"/api/v1/jobs/{job.id}"}


@blp.route("/jobs")
class Jobs(MethodView):
    @blp.arguments(PageArgsSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(JobSummarySchema))
    @require_login
    def get(self, page: int, per_page: int):
        """The jobs of the caller's municipality or office, newest first (GET one for its
        result or refusal)."""
        return paginate(jobs.jobs_visible_to(current_principal()), page, per_page)


@blp.route("/jobs/<int:job_id>")
class JobItem(MethodView):
    @blp.response(200, JobSchema)
    @require_login
    def get(self, job_id: int):
        """A job: status, progress (phase, done of total), then its result or refusal."""
        return jobs.get_job(current_principal(), job_id)
