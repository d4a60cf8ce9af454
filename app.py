"""The composition root: create_app() wires configuration, extensions, blueprints and CLI."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from core.api import WelfareApi, create_api
from core.config import load_config
from core.crypto import configure_crypto
from core.db import db
from core.errors import register_error_handlers
from core.extensions import csrf, limiter, migrate
from core.i18n import init_i18n
from core.nav import init_nav
from core.outbox import IMPORTS, LETTERS, PLANS, register_handler
from core.queues import init_queues
from core.web import install_request_hooks, register_bearer_resolver


def create_app(
    test_config: dict[str, Any] | None = None, instance_path: str | None = None
) -> Flask:
    """Build the Flask application (test_config overrides environment settings)."""
    app = Flask(
        __name__,
        instance_path=instance_path,
        instance_relative_config=True,
        static_folder="core/static",
        template_folder="core/templates",
    )
    load_config(app, test_config)
    logging.basicConfig(level=app.config.get("LOG_LEVEL", "INFO"))
    if app.config.get("PROXY_HOPS"):
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXY_HOPS"])
    configure_crypto(app.config["ENCRYPTION_KEYS"], app.config["BLIND_INDEX_KEY"])

    _import_models()
    db.init_app(app)
    migrate.init_app(app, db, directory=app.config.get("MIGRATIONS_DIR", "migrations"))
    csrf.init_app(app)
    limiter.init_app(app)
    init_i18n(app)
    init_queues(app)
    init_nav(app)
    api = create_api(app)
    register_error_handlers(app)
    install_request_hooks(app)
    _register_blueprints(app, api)
    _register_cli(app)
    return app


def _import_models() -> None:
    # Every table must be in the metadata before migrations or queries run.
    import carrier_api.models  # noqa: F401
    import core.audit  # noqa: F401
    import core.auth.models  # noqa: F401
    import core.jobs  # noqa: F401
    import core.outbox  # noqa: F401
    import core.scheduler  # noqa: F401
    import municipalities.mail.models  # noqa: F401
    import municipalities.models  # noqa: F401
    import postal.models  # noqa: F401
    import routing.models  # noqa: F401
    import welfare_checks.models  # noqa: F401


def _register_blueprints(app: Flask, api: WelfareApi) -> None:
    from carrier_api import devices
    from carrier_api import pages as device_pages
    from carrier_api import push as carrier_push
    from carrier_api import retention as visit_retention
    from carrier_api import views as carrier_views
    from core import email, job_views, push, web
    from core.auth import account_pages, my_account, pages
    from core.auth import views as auth_views
    from core.auth.tenants import Tenants, register_tenants
    from municipalities import household_import, sender_pages
    from municipalities import jobs as municipality_jobs
    from municipalities import pages as registry_pages
    from municipalities import services as municipality_services
    from municipalities import views as municipality_views
    from municipalities.mail import delivery_views, production, webhook_pages, webhooks
    from municipalities.mail import pages as mail_pages
    from municipalities.mail import services as mail
    from municipalities.mail import views as mail_views
    from postal import pages as postal_pages
    from postal import services as postal_services
    from postal import views as postal_views
    from routing import office_items
    from routing import pages as routing_pages
    from routing import views as routing_views
    from routing.plans import worker as plan_worker
    from welfare_checks import access_review_views, retention, scheduled
    from welfare_checks import views as check_views
    from welfare_checks.pages import register_pages

    app.register_blueprint(pages.bp)
    account_pages.register_pages(app)
    my_account.register_pages(app)
    app.register_blueprint(web.leaflet)
    register_pages(app)
    registry_pages.register_pages(app)
    mail_pages.register_pages(app)
    webhook_pages.register_pages(app)
    sender_pages.register_pages(app)
    routing_pages.register_pages(app)
    postal_pages.register_pages(app)
    device_pages.register_pages(app)
    blueprints = (
        auth_views.blp,
        municipality_views.blp,
        mail_views.blp,
        postal_views.blp,
        delivery_views.blp,
        routing_views.blp,
        carrier_views.blp,
        check_views.blp,
        access_review_views.blp,
        job_views.blp,
    )
    for blueprint in blueprints:
        api.register_blueprint(blueprint)
    # The postal network sits below municipalities: new districts reassign the households.
    postal_services.on_districts_changed(app, municipality_services.reassign_households)
    # Accounts are bound to tenants that the packages above core own.
    register_tenants(
        app,
        Tenants(
            "municipality",
            municipality_services.municipality_exists,
            municipality_services.municipality_names,
        ),
    )
    register_tenants(
        app, Tenants("office", postal_services.office_exists, postal_services.office_names)
    )
    # Retention (welfare_checks) erases what the carrier app, above it, keeps about households.
    retention.add_purge_step(app, visit_retention.erase_visit_details)
    # core resolves account tokens; carrier phones' tokens are the carrier app's.
    register_bearer_resolver(app, devices.ACCESS_PREFIX, devices.principal_from_device_token)
    # Pushes, webhooks and e-mails default to the alerts queue; routine ones name `notices`.
    register_handler(mail.PRODUCE_KIND, production.produce_batch, queue=LETTERS)
    register_handler(webhooks.KIND, webhooks.deliver)
    register_handler(plan_worker.KIND, plan_worker.run_plan, queue=PLANS)
    register_handler(push.KIND, carrier_push.deliver)
    register_handler(email.KIND, email.deliver)
    # Upkeep and geocoding jobs, and the periodic asks for them the scheduler makes.
    scheduled.register_jobs(app)
    municipality_jobs.register_jobs(app)
    register_handler(household_import.KIND, household_import.run_import_job, queue=IMPORTS)
    register_handler(office_items.KIND, office_items.run_import_job, queue=IMPORTS)


def _register_cli(app: Flask) -> None:
    from core.cli import accounts_cli, keys_cli, outbox_cli, scheduler_cli
    from demo.cli import demo_cli
    from municipalities.cli import households_cli
    from postal.cli import districts_cli, offices_cli
    from routing.vrp.cli import routing_cli

    groups = (
        keys_cli,
        accounts_cli,
        outbox_cli,
        households_cli,
        offices_cli,
        districts_cli,
        demo_cli,
        # Installed, Flask finds it as a plugin without building the app (pyproject's
        # "flask.commands" entry point); here too for a checkout run without installing it.
        routing_cli,
        scheduler_cli,
    )
    for group in groups:
        app.cli.add_command(group)
