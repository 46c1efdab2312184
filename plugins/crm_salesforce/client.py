"""The REST client: simple-salesforce calls with retries, re-authentication and the API quota.

* 5xx, 429 and network errors (connection refused or reset, time-outs) are retried up to
  ``max_retries`` times, waiting ``backoff_seconds × 2^n`` with jitter (half fixed, half random);
* ``INVALID_SESSION_ID`` (401) logs in again once and repeats the call;
* ``REQUEST_LIMIT_EXCEEDED`` (403) raises :class:`QuotaExceeded`: the sync stops cleanly;
* every answer's ``Sforce-Limit-Info`` header (``api-usage=used/total``, which simple-salesforce
  parses into ``api_usage``) is checked before the next call: a call that would pass
  ``max_api_share`` of the daily quota is not made (:class:`QuotaExceeded`);
* anything else (a malformed query, a missing field, no access) is an :class:`ApiError` naming
  Salesforce's ``errorCode`` and message.

Queries go to ``queryAll`` (deleted and archived rows included) and are paged through
``nextRecordsUrl`` until ``done``; ``Sforce-Query-Options: batchSize=N`` sets the page size.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceRefusedRequest,
)

from .auth import AuthError, Session, login
from .config import Settings, redactor

log = logging.getLogger("attain.salesforce")
T = TypeVar("T")

NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


class ApiError(Exception):
    """Salesforce refused a call for a reason retrying cannot fix (the message names it)."""


class QuotaExceeded(ApiError):
    """The daily API quota is used up (or the configured share of it): stop, resume later."""


def error_code(exc: SalesforceError) -> tuple[str, str]:
    """``(errorCode, message)`` of a Salesforce error answer ``[{"message", "errorCode"}]``."""
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode", "")), str(content[0].get("message", ""))
    if isinstance(content, dict):
        return str(content.get("errorCode", content.get("error", ""))), str(
            content.get("message", content.get("error_description", "")))
    return "", (str(content) if content else "")[:300]


def _query_more(sf: Salesforce, url: str, headers: dict[str, str], timeout: float) -> Any:
    return sf.query_more(url, identifier_is_url=True, headers=headers, timeout=timeout)


@dataclass(frozen=True)
class Page:
    records: list[dict[str, Any]]
    total: int | None  # the query's totalSize


class SalesforceClient:
    """One org's REST API for one sync run. ``sleep`` and ``jitter`` are injectable for tests."""

    def __init__(self, settings: Settings, http: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 jitter: Callable[[], float] = random.random) -> None:
        self.settings = settings
        self.http = http or requests.Session()
        self._sleep = sleep
        self._jitter = jitter
        self._sf: Salesforce | None = None
        self._redact = redactor(settings)
        self.calls = 0
        self.retries = 0
        self.reauthentications = 0
        self.api_usage: tuple[int, int] | None = None  # (used, total) from Sforce-Limit-Info

    # -- session -------------------------------------------------------------------------------

    def _connect(self) -> Salesforce:
        session: Session = self._with_retries("login", lambda: login(self.settings, self.http))
        return Salesforce(instance_url=session.instance_url, session_id=session.access_token,
                          version=self.settings.api_version, session=self.http,
                          parse_float=Decimal)  # amounts are exact, never floats

    @property
    def sf(self) -> Salesforce:
        if self._sf is None:
            self._sf = self._connect()
        return self._sf

    # -- calls ---------------------------------------------------------------------------------

    def _delay(self, attempt: int) -> float:
        d = self.settings.backoff_seconds * (2 ** attempt)
        return d / 2 + self._jitter() * d / 2

    def _with_retries(self, what: str, fn: Callable[[], T]) -> T:
        attempt = 0
        while True:
            try:
                return fn()
            except SalesforceGeneralError as exc:  # 5xx, 429 and other unexpected statuses
                if not (exc.status == 429 or exc.status >= 500) or attempt >= self.settings.max_retries:
                    raise self._api_error(what, exc) from None
                reason = f"HTTP {exc.status}"
            except NETWORK_ERRORS as exc:
                if attempt >= self.settings.max_retries:
                    raise ApiError(self._redact(f"Salesforce {what}: {type(exc).__name__} after "
                                                f"{attempt + 1} attempts")) from None
                reason = type(exc).__name__
            except AuthError as exc:
                if not exc.retryable or attempt >= self.settings.max_retries:
                    raise
                reason = str(exc)
            delay = self._delay(attempt)
            attempt += 1
            self.retries += 1
            log.warning("salesforce %s: %s; retry %d of %d in %.1f s", what, reason, attempt,
                        self.settings.max_retries, delay)
            self._sleep(delay)

    def _api_error(self, what: str, exc: SalesforceError) -> ApiError:
        code, message = error_code(exc)
        text = f"Salesforce {what}: HTTP {exc.status}" + (f" {code}" if code else "") + (
            f": {message}" if message else "")
        return ApiError(self._redact(text))

    def call(self, what: str, fn: Callable[[Salesforce], T]) -> T:
        """``fn(sf)`` with the retries, one re-authentication and the quota check."""
        self._check_quota(what)
        reauthenticated = False
        while True:
            try:
                result = self._with_retries(what, lambda: fn(self.sf))
                break
            except SalesforceExpiredSession as exc:
                code, _ = error_code(exc)
                if reauthenticated:
                    raise self._api_error(what, exc) from None
                log.info("salesforce %s: session expired (%s); logging in again", what,
                         code or "HTTP 401")
                reauthenticated = True
                self.reauthentications += 1
                self._sf = self._connect()
            except SalesforceRefusedRequest as exc:
                code, message = error_code(exc)
                if code == "REQUEST_LIMIT_EXCEEDED":
                    why = message or "the org used up its daily API requests"
                    raise QuotaExceeded(self._redact(
                        f"Salesforce refused {what}: REQUEST_LIMIT_EXCEEDED ({why})")) from None
                raise self._api_error(what, exc) from None
            except SalesforceError as exc:
                raise self._api_error(what, exc) from None
        self.calls += 1
        self._note_usage()
        return result

    def _note_usage(self) -> None:
        usage = getattr(self._sf, "api_usage", None) or {}
        u = usage.get("api-usage")
        if u is not None:
            self.api_usage = (int(u.used), int(u.total))

    def _check_quota(self, what: str) -> None:
        if self.api_usage is None:
            return
        used, total = self.api_usage
        if total > 0 and used + 1 > self.settings.max_api_share * total:
            raise QuotaExceeded(
                f"stopped before {what}: {used} of the org's {total} daily API requests are used, "
                f"and this connector may use up to {self.settings.max_api_share:.0%} of them "
                f"(ATTAIN_SALESFORCE_MAX_API_SHARE)")

    # -- the API -------------------------------------------------------------------------------

    def pages(self, soql: str, what: str) -> Iterator[Page]:
        """The records of ``soql`` (deleted ones included), one page at a time."""
        headers = {"Sforce-Query-Options": f"batchSize={self.settings.batch_size}"}
        timeout = self.settings.timeout_seconds
        page = self.call(f"query {what}", lambda sf: sf.query(
            soql, include_deleted=True, headers=headers, timeout=timeout))
        while True:
            nxt = str(page.get("nextRecordsUrl") or "")
            total = page.get("totalSize")
            yield Page(list(page.get("records") or []), total if isinstance(total, int) else None)
            if page.get("done", True) or not nxt:
                return
            page = self.call(f"query {what} (next page)", functools.partial(
                _query_more, url=nxt, headers=headers, timeout=timeout))

    def fields(self, sobject: str) -> set[str]:
        """The field names of ``sobject`` (``GET /sobjects/{sobject}/describe``)."""
        timeout = self.settings.timeout_seconds
        desc = self.call(f"describe {sobject}",
                         lambda sf: sf.restful(f"sobjects/{sobject}/describe", timeout=timeout))
        return {str(f.get("name")) for f in (desc or {}).get("fields", []) if f.get("name")}
