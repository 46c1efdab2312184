"""OAuth 2.0 login: ``POST {login_url}/services/oauth2/token``.

Both flows are one form POST (simple-salesforce builds its token URL from a ``*.salesforce.com``
domain, so the request is made here with ``requests``, which it is built on, and the session is
handed to :class:`simple_salesforce.Salesforce`):

* client credentials: ``grant_type=client_credentials``, ``client_id``, ``client_secret``;
* username-password: ``grant_type=password``, the client id and secret, ``username`` and
  ``password`` + ``security_token``.

The answer's ``access_token`` is the session id, its ``instance_url`` where the queries go.
Errors name the login URL, the HTTP status and Salesforce's ``error`` / ``error_description``,
with every secret blanked out; the form body (which holds them) is never logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import requests

from .config import Settings, redactor

log = logging.getLogger("attain.salesforce")


class AuthError(Exception):
    """Login failed (wrong credentials, unreachable login URL); the message holds no secret.
    ``retryable``: a network error, 5xx or 429 (worth another try)."""

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class Session:
    access_token: str
    instance_url: str

    def __repr__(self) -> str:  # the token is a credential too
        return f"Session(instance_url={self.instance_url!r}, access_token='***')"


def token_form(settings: Settings) -> dict[str, str]:
    form = {"client_id": settings.client_id,
            "client_secret": settings.client_secret.get_secret_value()}
    if settings.flow == "password":
        assert settings.password is not None and settings.security_token is not None
        form.update(grant_type="password", username=settings.username or "",
                    password=settings.password.get_secret_value()
                    + settings.security_token.get_secret_value())
    else:
        form["grant_type"] = "client_credentials"
    return form


def login(settings: Settings, http: requests.Session) -> Session:
    """Authenticate; raises :class:`AuthError`."""
    url = f"{settings.login_url}/services/oauth2/token"
    redact = redactor(settings)
    log.debug("salesforce: requesting a token from %s (%s flow)", url, settings.flow)
    try:
        resp = http.post(url, data=token_form(settings), headers={"Accept": "application/json"},
                         timeout=settings.timeout_seconds)
    except requests.RequestException as exc:
        raise AuthError(redact(f"cannot reach the Salesforce login URL {url}: "
                               f"{type(exc).__name__}"), retryable=True) from None
    try:
        body = resp.json()
    except ValueError:
        body = None
    if resp.status_code != 200 or not isinstance(body, dict):
        detail = ""
        if isinstance(body, dict) and (body.get("error") or body.get("error_description")):
            detail = f": {body.get('error', '')} {body.get('error_description', '')}".rstrip()
        raise AuthError(redact(f"Salesforce login failed ({settings.flow} flow, {url}): "
                               f"HTTP {resp.status_code}{detail}"),
                        retryable=resp.status_code == 429 or resp.status_code >= 500)
    token, instance = body.get("access_token"), body.get("instance_url")
    if not isinstance(token, str) or not token or not isinstance(instance, str) \
            or not instance.startswith("https://"):
        raise AuthError(f"Salesforce login ({url}): the answer has no access_token and https "
                        "instance_url")
    log.debug("salesforce: logged in; queries go to %s", instance)
    return Session(access_token=token, instance_url=instance.rstrip("/"))
