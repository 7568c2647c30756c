"""Admin plumbing shared by the admin-facing services (dashboard, oauth): admin auth (bearer key
or login session), the session codec and CSRF, access and body-cap middleware, the admin key kept
in Redis, redaction, the sign-in rate limit, the client address behind proxies, sealing at rest,
the error root and its renderer, the settings base, the app and lifespan every admin service
starts from (on the `kiro_service` skeleton), its `__main__` (`run_admin_service`) and the shared
static assets.

The services meet only on the bus; what both need of the admin surface lives here.
"""

from kiro_admin.adminkey import AdminKeyError, resolve_admin_key
from kiro_admin.app import admin_app
from kiro_admin.auth import (
    AdminAuth,
    AdminAuthError,
    AuthUnavailable,
    CsrfRejected,
    NotAuthenticated,
    Principal,
    read_form,
)
from kiro_admin.clientaddr import TrustedProxies, validate_spec
from kiro_admin.deps import Admin, AdminWrite
from kiro_admin.errors import AdminError, error_response, install_error_handlers
from kiro_admin.keys import AdminKeys
from kiro_admin.loginlimit import LoginLimiter
from kiro_admin.middleware import AccessMiddleware, BodyCapMiddleware
from kiro_admin.redact import REDACTED, Redactor
from kiro_admin.run import run_admin_service
from kiro_admin.runtime import AdminHealth, AdminRuntime, AdminState, admin_runtime
from kiro_admin.sealer import Sealer
from kiro_admin.session import COOKIE_NAME, CSRF_FIELD, CSRF_HEADER, SessionCodec
from kiro_admin.settings import AdminServiceSettings
from kiro_admin.static import admin_static

__all__ = [
    "COOKIE_NAME",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "REDACTED",
    "AccessMiddleware",
    "Admin",
    "AdminAuth",
    "AdminAuthError",
    "AdminError",
    "AdminHealth",
    "AdminKeyError",
    "AdminKeys",
    "AdminRuntime",
    "AdminServiceSettings",
    "AdminState",
    "AdminWrite",
    "AuthUnavailable",
    "BodyCapMiddleware",
    "CsrfRejected",
    "LoginLimiter",
    "NotAuthenticated",
    "Principal",
    "Redactor",
    "Sealer",
    "SessionCodec",
    "TrustedProxies",
    "admin_app",
    "admin_runtime",
    "admin_static",
    "error_response",
    "install_error_handlers",
    "read_form",
    "resolve_admin_key",
    "run_admin_service",
    "validate_spec",
]
