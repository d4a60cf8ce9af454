"""Flask extensions created once and bound in create_app()."""

from __future__ import annotations

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

migrate = Migrate(render_as_batch=True, compare_type=True)
csrf = CSRFProtect()
# Storage comes from RATELIMIT_STORAGE_URI (memory:// per process by default; redis:// in
# production so every worker shares the counts).
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)
