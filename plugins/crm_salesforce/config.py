"""Connection settings: ``ATTAIN_SALESFORCE_*`` variables, or a secrets file.

===========================================  ==================================================  =======================
variable (secrets-file key)                  meaning                                             default
===========================================  ==================================================  =======================
``ATTAIN_SALESFORCE_LOGIN_URL`` (login_url)  where ``POST /services/oauth2/token`` goes          login.salesforce.com
``…_CLIENT_ID`` / ``…_CLIENT_SECRET``        the connected app's consumer key and secret         (required)
``…_USERNAME`` / ``…_PASSWORD`` /            the username-password flow (all three, with the     client credentials
``…_SECURITY_TOKEN``                         client id and secret); without them: client creds.
``…_API_VERSION`` (api_version)              REST API version                                    60.0
``…_SECRETS_FILE``                           a YAML file holding any of the keys above           none
``…_MAPPING``                                the per-tenant mapping file (see mapping.py)        none
``…_LOOKBACK_SECONDS``                       how far below the high-water mark each sync reads   300
``…_MAX_API_SHARE``                          stop before this share of the daily API quota       0.9
``…_BATCH_SIZE``                             records per query page (200 … 2000)                 2000
``…_MAX_RETRIES``                            retries of one call on 5xx, 429, network errors     5
``…_BACKOFF_SECONDS``                        first retry delay (doubles, with jitter)            1.0
``…_TIMEOUT_SECONDS``                        one HTTP request's timeout                          60
===========================================  ==================================================  =======================

Variables win over the secrets file. Secrets are :class:`pydantic.SecretStr`: their ``repr`` and
``str`` are ``**********``, and :func:`redactor` blanks their values out of any text (error
messages, log records) before it is shown.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

PREFIX = "ATTAIN_SALESFORCE_"
DEFAULT_LOGIN_URL = "https://login.salesforce.com"
DEFAULT_API_VERSION = "60.0"
SECRET_KEYS = ("client_secret", "password", "security_token")
FILE_KEYS = ("login_url", "client_id", "client_secret", "username", "password", "security_token",
             "api_version")


class ConfigError(Exception):
    """The settings are missing or invalid (never contains a secret's value)."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    login_url: str = DEFAULT_LOGIN_URL
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    username: str | None = None
    password: SecretStr | None = None
    security_token: SecretStr | None = None
    api_version: str = Field(default=DEFAULT_API_VERSION, pattern=r"^\d{2,3}\.\d$")
    lookback_seconds: int = Field(default=300, ge=0, le=7 * 86400)
    max_api_share: float = Field(default=0.9, gt=0, le=1)
    batch_size: int = Field(default=2000, ge=200, le=2000)
    max_retries: int = Field(default=5, ge=0, le=20)
    backoff_seconds: float = Field(default=1.0, ge=0, le=300)
    timeout_seconds: float = Field(default=60.0, gt=0, le=3600)

    @field_validator("login_url")
    @classmethod
    def _https(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        if not re.match(r"^https://[^/\s]+(/\S*)?$", v):
            raise ValueError("must be an https:// URL (simple-salesforce speaks HTTPS only)")
        return v

    @property
    def flow(self) -> str:
        """``password`` when a username is set, else ``client_credentials``."""
        return "password" if self.username else "client_credentials"

    def secrets(self) -> list[str]:
        """Every secret value (to blank out of text that is shown)."""
        out = [s.get_secret_value() for s in (self.client_secret, self.password, self.security_token)
               if s is not None and s.get_secret_value()]
        if self.password is not None and self.security_token is not None:
            out.append(self.password.get_secret_value() + self.security_token.get_secret_value())
        return out


_ENV_FIELDS = {
    "LOGIN_URL": "login_url", "CLIENT_ID": "client_id", "CLIENT_SECRET": "client_secret",
    "USERNAME": "username", "PASSWORD": "password", "SECURITY_TOKEN": "security_token",
    "API_VERSION": "api_version", "LOOKBACK_SECONDS": "lookback_seconds",
    "MAX_API_SHARE": "max_api_share", "BATCH_SIZE": "batch_size", "MAX_RETRIES": "max_retries",
    "BACKOFF_SECONDS": "backoff_seconds", "TIMEOUT_SECONDS": "timeout_seconds",
}


def _read_secrets_file(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{PREFIX}SECRETS_FILE: no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{PREFIX}SECRETS_FILE: cannot read {path}: {type(exc).__name__}") from None
    except yaml.YAMLError:
        # the parser's message quotes the file's text, which holds secrets: say where only
        raise ConfigError(f"{PREFIX}SECRETS_FILE: {path} is not valid YAML") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{PREFIX}SECRETS_FILE: {path} must hold a mapping of keys "
                          f"({', '.join(FILE_KEYS)})")
    unknown = sorted(str(k) for k in data if k not in FILE_KEYS)
    if unknown:
        raise ConfigError(f"{PREFIX}SECRETS_FILE: {path}: unknown key(s) {', '.join(unknown)} "
                          f"(known: {', '.join(FILE_KEYS)})")
    return {k: (None if v is None else str(v)) for k, v in data.items()}


def load_settings(env: Mapping[str, str] | None = None, secrets_file: str | None = None) -> Settings:
    """Settings from ``env`` (default: the process environment) and the secrets file."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    path = secrets_file or env.get(f"{PREFIX}SECRETS_FILE", "").strip()
    if path:
        values.update({k: v for k, v in _read_secrets_file(Path(path)).items() if v is not None})
    for suffix, name in _ENV_FIELDS.items():
        raw = env.get(PREFIX + suffix)
        if raw is not None and raw.strip():
            values[name] = raw.strip()
    user_flow = [k for k in ("username", "password", "security_token") if values.get(k)]
    if user_flow and len(user_flow) < 3:
        missing = [f"{PREFIX}{k.upper()}" for k in ("username", "password", "security_token")
                   if not values.get(k)]
        raise ConfigError(f"the username-password flow needs {', '.join(missing)} too "
                          "(or leave out the username for the client-credentials flow)")
    try:
        return Settings(**values)
    except ValidationError as exc:
        parts = []
        for e in exc.errors(include_url=False):
            field = str(e["loc"][0]) if e.get("loc") else "?"
            var = PREFIX + next((s for s, n in _ENV_FIELDS.items() if n == field), field.upper())
            # the message only: pydantic's input_value would echo a secret
            msg = "is not set" if e.get("type") == "missing" else e.get("msg", "invalid")
            parts.append(f"{var} {msg}")
        raise ConfigError("Salesforce settings: " + "; ".join(parts)) from None


def redactor(settings: Settings | None) -> Callable[[str], str]:
    """A function that replaces every secret value of ``settings`` in a text by ``***``."""
    values = sorted(settings.secrets() if settings else [], key=len, reverse=True)

    def redact(text: str) -> str:
        for v in values:
            text = text.replace(v, "***")
        return text

    return redact
