"""Errors of the oauth service, each with the HTTP status it is answered with (rendered once, by
`kiro_admin.install_error_handlers`). Messages are shown to the administrator: they never contain
a token or secret (and pass the redactor besides).

    kiro_admin.AdminError
    └── OAuthError              500  api_error
        ├── BadInput            400  malformed request, unparseable pasted URL or JSON
        ├── FlowNotFound        404  unknown or expired device flow / social `state`
        ├── LoginFailed         502  the OIDC service or the Kiro auth portal refused or failed
        └── CredentialRejected  422  the broker did not accept the new credential (its verify refresh failed)
"""

from __future__ import annotations

from kiro_admin import AdminError


class OAuthError(AdminError):
    """Root of the oauth service's own errors."""


class BadInput(OAuthError, status=400, kind="invalid_request_error"):
    pass


class FlowNotFound(OAuthError, status=404, kind="not_found_error"):
    pass


class LoginFailed(OAuthError, status=502, kind="login_failed"):
    pass


class CredentialRejected(OAuthError, status=422, kind="credential_rejected"):
    pass
