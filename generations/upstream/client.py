"""The only module that speaks HTTP to the Soul gateway.

It knows the paths, the headers, the response shapes and what each status
code means; it knows nothing about job sets in our database. Callers get
parsed dataclasses or a typed :class:`SoulError` whose class says what to do
(see the error table in docs/UPSTREAM.md). The paths, headers and statuses
themselves are the contract's (:mod:`soulwire.contract`).

The subscription key travels only in the ``Ocp-Apim-Subscription-Key`` header
of gateway requests: never in a message, a ``repr`` or a request to a result
URL (those live on a CDN that has no business seeing it).
"""

from __future__ import annotations

import email.utils
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from typing import IO, Any

import requests
import urllib3
from requests.adapters import HTTPAdapter

from soulwire import contract, params
from soulwire.contract import IDEMPOTENCY_HEADER, KEY_HEADER, POLL_PATH, STYLES_PATH, SUBMIT_PATH

log = logging.getLogger(__name__)

# --- Errors -----------------------------------------------------------------


class SoulError(Exception):
    """Base of everything the client raises. ``message`` is fit to show a person."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after


class InvalidParams(SoulError):
    """Refused locally by soul.params: nothing was sent."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("Invalid request parameters: " + params.describe_errors(errors))
        self.errors = errors


class GatewayUnreachable(SoulError):
    """Nothing reached the gateway (refused, DNS, TLS, connect timeout): safe to retry."""

    retryable = True


class NoResponse(SoulError):
    """The request was sent but no answer came (read timeout, dropped connection).

    For a poll this is harmless and retryable; for a submit the gateway may have
    accepted and charged it, so the caller must not resubmit blindly.
    """

    retryable = True


class ProtocolError(SoulError):
    """A 2xx answer we cannot understand."""

    retryable = True


class UpstreamError(SoulError):
    """The gateway answered with an error status."""


class BadRequest(UpstreamError):
    """400/422: our request is invalid. Never retry."""


class ConcurrencyLimited(UpstreamError):
    """400 'Maximum number of concurrent requests': upstream is busy, retry later."""

    retryable = True


class Unauthorized(UpstreamError):
    """401: the key is missing or wrong."""


class AccessDenied(UpstreamError):
    """402/403: no credits, or not allowed."""


class NotFound(UpstreamError):
    """404: unknown job set (may be eventual consistency right after a submit)."""

    retryable = True


class Unavailable(UpstreamError):
    """423/503: the model is blocked or disabled for now."""

    retryable = True


class RateLimited(UpstreamError):
    """429: wait ``retry_after`` seconds when given."""

    retryable = True


class ServerError(UpstreamError):
    """5xx: upstream trouble."""

    retryable = True


class ResultTooLarge(SoulError):
    """A result download exceeded the size cap."""


# --- Parsed responses ---------------------------------------------------------


@dataclass(frozen=True)
class JobResult:
    id: str
    status: str  # Soul's spelling, see contract.normalize_status
    raw_url: str | None = None
    min_url: str | None = None

    @property
    def terminal(self) -> bool:
        return self.status in contract.TERMINAL_STATUSES


@dataclass(frozen=True)
class JobSetResult:
    id: str
    jobs: tuple[JobResult, ...]
    input_params: dict[str, Any] = field(default_factory=dict)
    # Only the generic Pixazo shape has a top-level status; Soul's does not.
    status: str | None = None

    @property
    def finished(self) -> bool:
        """True when every job is terminal (a batch can finish partly)."""
        if self.jobs:
            return all(job.terminal for job in self.jobs)
        return self.status in contract.TERMINAL_STATUSES


@dataclass(frozen=True)
class StyleInfo:
    id: str
    name: str
    description: str = ""
    preview_url: str = ""


def _url_of(result: Any) -> str | None:
    if isinstance(result, str):
        return result or None
    if isinstance(result, dict):
        for key in ("url", "imageUrl", "image_url"):
            if isinstance(result.get(key), str) and result[key]:
                return result[key]
    return None


def parse_job_set(data: Any) -> JobSetResult:
    """Understand every job-set shape docs/UPSTREAM.md lists.

    - submit: ``{"job_set_id", "jobs": [{"id", "status", "results"}], "input_params"}``
    - poll: the same with ``id`` instead of ``job_set_id``
    - generic Pixazo: ``{"job_set_id", "status": "succeeded", "results": [{"imageUrl", "job_id"}]}``
    """
    if not isinstance(data, dict):
        raise ProtocolError("The gateway answered with something other than a JSON object.")
    job_set_id = data.get("job_set_id") or data.get("id")
    if not isinstance(job_set_id, str) or not job_set_id:
        raise ProtocolError("The gateway's answer has no job set id.")
    input_params = data.get("input_params") if isinstance(data.get("input_params"), dict) else {}
    top_status = contract.normalize_status(data.get("status")) or None

    jobs: list[JobResult] = []
    if isinstance(data.get("jobs"), list):
        for index, job in enumerate(data["jobs"]):
            if not isinstance(job, dict):
                raise ProtocolError("The gateway's answer has a job that is not an object.")
            results = job.get("results") if isinstance(job.get("results"), dict) else {}
            jobs.append(
                JobResult(
                    id=str(job.get("id") or f"{job_set_id}:{index}"),
                    status=contract.normalize_status(job.get("status")),
                    raw_url=_url_of(results.get("raw")),
                    min_url=_url_of(results.get("min")),
                )
            )
    elif isinstance(data.get("results"), list):
        for index, result in enumerate(data["results"]):
            url = _url_of(result)
            job_id = result.get("job_id") if isinstance(result, dict) else None
            jobs.append(
                JobResult(
                    id=str(job_id or f"{job_set_id}:{index}"),
                    status=top_status or ("completed" if url else ""),
                    raw_url=url,
                )
            )
    return JobSetResult(id=job_set_id, jobs=tuple(jobs), input_params=input_params, status=top_status)


def parse_styles(data: Any) -> list[StyleInfo]:
    items = data
    if isinstance(data, dict):
        items = data.get("styles") or data.get("data") or data.get("items") or []
    if not isinstance(items, list):
        raise ProtocolError("The styles list is not a list.")
    styles = []
    for item in items:
        if not isinstance(item, dict) or not params.is_uuid(item.get("id")) or not item.get("name"):
            continue
        styles.append(
            StyleInfo(
                id=item["id"].lower(),
                name=str(item["name"]),
                description=str(item.get("description") or ""),
                preview_url=str(
                    item.get("preview_url") or item.get("preview") or item.get("image_url") or ""
                ),
            )
        )
    return styles


# --- Reading errors -------------------------------------------------------------

_RETRY_IN_RE = re.compile(r"try again in (\d+(?:\.\d+)?) ?s", re.IGNORECASE)


def error_message(response: requests.Response) -> str:
    """The upstream's own words, whichever of the three body shapes carries them."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("error", "detail", "message"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
            if isinstance(value, list) and value:
                return "; ".join(_describe_detail(item) for item in value)
            if isinstance(value, dict) and value.get("message"):
                return str(value["message"])
    text = (response.text or "").strip()
    if text and len(text) < 300 and "<" not in text:
        return text
    return f"HTTP {response.status_code} {response.reason or ''}".strip()


def _describe_detail(item: Any) -> str:
    # FastAPI-style validation errors: {"loc": ["body", "seed"], "msg": "..."}
    if isinstance(item, dict):
        where = ".".join(str(part) for part in item.get("loc", []) if part != "body")
        msg = str(item.get("msg") or item.get("message") or item)
        return f"{where}: {msg}" if where else msg
    return str(item)


def retry_after(response: requests.Response, message: str = "") -> float | None:
    """Seconds to wait: the Retry-After header (seconds or a date), else 'try again in N s'."""
    header = response.headers.get("Retry-After")
    if header:
        header = header.strip()
        try:
            return max(0.0, float(header))
        except ValueError:
            try:
                parsed = email.utils.parsedate_to_datetime(header)
            except (TypeError, ValueError):  # neither seconds nor a date: ignore it
                parsed = None
            if parsed is not None:
                return max(0.0, parsed.timestamp() - time.time())
    match = _RETRY_IN_RE.search(message)
    return float(match.group(1)) if match else None


def error_for(response: requests.Response) -> UpstreamError:
    status = response.status_code
    message = error_message(response)
    wait = retry_after(response, message)
    if status in (400, 422):
        if "concurrent" in message.lower():
            return ConcurrencyLimited(message, status=status, retry_after=wait)
        return BadRequest(message, status=status)
    kinds: dict[int, type[UpstreamError]] = {
        401: Unauthorized,
        402: AccessDenied,
        403: AccessDenied,
        404: NotFound,
        423: Unavailable,
        429: RateLimited,
        503: Unavailable,
    }
    kind = kinds.get(status) or (ServerError if status >= 500 else BadRequest)
    return kind(message, status=status, retry_after=wait)


# --- The client -------------------------------------------------------------------


def _sent(exc: requests.ConnectionError) -> bool:
    """Did a ConnectionError happen after the request may have reached the server?"""
    if isinstance(exc, (requests.ConnectTimeout, requests.exceptions.SSLError)):
        return False
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, urllib3.exceptions.MaxRetryError):
        reason = reason.reason
    return not isinstance(
        reason, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.NameResolutionError)
    )


class SoulClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        user_agent: str,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        styles_path: str = STYLES_PATH,
        pool_size: int = 8,
    ):
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.timeout = (connect_timeout, read_timeout)
        self.styles_path = styles_path
        self.session = requests.Session()
        # No automatic retries: whether a retry is safe depends on what was sent.
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = user_agent

    def __repr__(self) -> str:
        return f"<SoulClient {self.base_url}>"

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "Cache-Control": "no-cache",
            KEY_HEADER: self._api_key,
        }
        headers.update(extra or {})
        return headers

    def _request(self, method: str, path: str, *, json: Any = None, extra_headers=None) -> Any:
        url = self.base_url + path
        try:
            # No redirects: requests would forward the key header to whatever host they name.
            response = self.session.request(
                method,
                url,
                json=json,
                headers=self._headers(extra_headers),
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.ReadTimeout as exc:
            raise NoResponse(f"The gateway did not answer within {self.timeout[1]:g} s.") from exc
        except requests.ConnectionError as exc:
            if _sent(exc):
                raise NoResponse("The connection to the gateway dropped before it answered.") from exc
            raise GatewayUnreachable(f"The gateway at {self.base_url} could not be reached.") from exc
        except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as exc:
            # The answer began and broke off: the request reached the gateway.
            raise NoResponse("The gateway's answer broke off before it was complete.") from exc
        except requests.RequestException as exc:
            raise GatewayUnreachable(f"The request to the gateway failed: {type(exc).__name__}.") from exc
        if response.status_code >= 400:
            raise error_for(response)
        try:
            return response.json()
        except ValueError as exc:
            raise ProtocolError(f"The gateway answered HTTP {response.status_code} without JSON.") from exc

    def submit(self, payload: dict[str, Any], idempotency_key: str) -> JobSetResult:
        errors = params.validate(payload)
        if errors:
            raise InvalidParams(errors)
        data = self._request(
            "POST", SUBMIT_PATH, json=payload, extra_headers={IDEMPOTENCY_HEADER: idempotency_key}
        )
        return parse_job_set(data)

    def poll(self, job_set_id: str) -> JobSetResult:
        return parse_job_set(self._request("POST", POLL_PATH, json={"job_set_id": job_set_id}))

    def styles(self) -> list[StyleInfo]:
        return parse_styles(self._request("GET", self.styles_path))

    def download(self, url: str, out: IO[bytes], *, max_bytes: int, timeout: float | None = None) -> int:
        """Stream a result into ``out``; return the byte count.

        Result URLs live on a CDN: the subscription key is not sent there.
        """
        try:
            with self.session.get(
                url, stream=True, timeout=(self.timeout[0], timeout or self.timeout[1])
            ) as response:
                if response.status_code >= 400:
                    raise error_for(response)
                declared = response.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise ResultTooLarge(
                        f"The result is {int(declared):,} bytes, over the {max_bytes:,}-byte cap."
                    )
                total = 0
                for chunk in response.iter_content(chunk_size=64 * 1024):
                    total += len(chunk)
                    if total > max_bytes:
                        raise ResultTooLarge(f"The result is over the {max_bytes:,}-byte cap.")
                    out.write(chunk)
                return total
        except requests.Timeout as exc:
            raise NoResponse("The result download timed out.") from exc
        except requests.ConnectionError as exc:
            raise GatewayUnreachable("The result could not be downloaded: connection failed.") from exc
        except requests.RequestException as exc:  # e.g. the body broke off part way
            raise NoResponse(f"The result download failed: {type(exc).__name__}.") from exc


_client: SoulClient | None = None
_client_lock = threading.Lock()


def get_client() -> SoulClient:
    """The process-wide client (one pooled session), built from settings."""
    global _client
    with _client_lock:
        if _client is None:
            from django.conf import settings

            import soulsite

            _client = SoulClient(
                settings.SOUL_API_BASE_URL,
                settings.SOUL_API_KEY,
                user_agent=f"soulsite/{soulsite.__version__} python-requests/{requests.__version__}",
                connect_timeout=settings.SOUL_CONNECT_TIMEOUT,
                read_timeout=settings.SOUL_READ_TIMEOUT,
                styles_path=settings.SOUL_STYLES_PATH,
                pool_size=max(8, settings.SOUL_POLL_CONCURRENCY * 2),
            )
        return _client


def reset_client() -> None:
    """Forget the cached client (tests change settings between cases)."""
    global _client
    with _client_lock:
        _client = None
