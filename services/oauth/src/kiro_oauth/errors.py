"""Errors of the oauth service, each with the HTTP status it is answered with (rendered once, in
`app.py`). Messages are shown to the administrator: they never contain a token or secret.

    OAuthError
    ├── BadInput            400  malformed request, unparseable pasted URL or JSON
    ├── FlowNotFound        404  unknown or expired device flow / social `state`
    ├── LoginFailed         502  the OIDC service or the Kiro auth portal refused or failed
    └── CredentialRejected  422  the broker did not accept the new credential (its verify refresh failed)
"""

from __future__ import annotations


class OAuthError(Exception):
    status_code = 500
    error_type = "api_error"


class BadInput(OAuthError):
    status_code = 400
    error_type = "invalid_request_error"


class FlowNotFound(OAuthError):
    status_code = 404
    error_type = "not_found_error"


class LoginFailed(OAuthError):
    status_code = 502
    error_type = "login_failed"


class CredentialRejected(OAuthError):
    status_code = 422
    error_type = "credential_rejected"
