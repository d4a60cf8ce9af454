"""Following a job through the API: the 202, the outbox run in-process, the finished job."""

from __future__ import annotations

from typing import Any

from core.outbox import deliver_due


def started(response) -> str:
    """The job a 202 answer started: its Location (checked against its id)."""
    assert response.status_code == 202, response.get_json()
    location = response.headers["Location"]
    assert location == f"/api/v1/jobs/{response.json['id']}"
    assert response.json["status"] == "queued"
    return location


def finished(client, response, headers: dict[str, str]) -> dict[str, Any]:
    """Run the job a 202 answer started (deliver_due) and return it as GET /jobs/{id} answers."""
    location = started(response)
    deliver_due()
    job = client.get(location, headers=headers)
    assert job.status_code == 200, job.json
    assert job.json["status"] in ("done", "failed"), job.json
    return job.json


def result_of(client, response, headers: dict[str, str]) -> dict[str, Any]:
    """The result of a job that must end done."""
    job = finished(client, response, headers)
    assert job["status"] == "done", job
    return job["result"]


def refusal_of(client, response, headers: dict[str, str]) -> dict[str, Any]:
    """The error of a job that must end failed (the error body's `error` member)."""
    job = finished(client, response, headers)
    assert job["status"] == "failed", job
    return job["error"]
