"""homeforge's hooks for LiteLLM's proxy: per-consumer keys, model lists and limits
without LiteLLM's database, and a usage record per request.

Installed by the ``ai_gateway`` role beside the proxy's ``config.yaml``, which names
``user_api_key_auth`` as LiteLLM's custom authentication (``general_settings.custom_auth``)
and ``usage_logger`` as a callback (``litellm_settings.callbacks``).

- Keys: ``$HOMEFORGE_GATEWAY_KEYS`` (``keys.json``, the gateway user's, 0600) maps each
  consumer to the SHA-256 of its key; the key itself is shown once by ``homeforge
  gateway keys issue`` and kept nowhere. The file is read again when it changes, so an
  issued, rotated or revoked key takes effect at the next request, without a restart.
- Consumers: ``$HOMEFORGE_GATEWAY_CONSUMERS`` (``consumers.json``, from the inventory's
  ``ai_gateway_consumers``): the models each may use and its requests and tokens per
  minute. A key of a consumer no longer declared is refused.
- A request: no key, an unknown or a revoked key: 401. A route outside the OpenAI API, or
  a model outside the consumer's list: 403. Otherwise LiteLLM's own rate limiter holds
  the consumer to its ``rpm_limit`` and ``tpm_limit`` (HTTP 429 with ``Retry-After``).
- Usage: one JSON line per request in ``$HOMEFORGE_GATEWAY_USAGE`` (consumer, model,
  status, tokens in and out, milliseconds; never a key, a prompt or an answer), read by
  ``homeforge gateway usage``. The file is rotated once (``.1``) past 64 MiB.
"""

import hashlib
import json
import os
import threading
import time

from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy._types import ProxyException, UserAPIKeyAuth
from litellm.proxy.common_utils.http_parsing_utils import _read_request_body

KEYS = os.environ.get("HOMEFORGE_GATEWAY_KEYS", "/var/lib/homeforge-gateway/keys.json")
CONSUMERS = os.environ.get("HOMEFORGE_GATEWAY_CONSUMERS", "/etc/homeforge-gateway/consumers.json")
USAGE = os.environ.get("HOMEFORGE_GATEWAY_USAGE", "/var/lib/homeforge-gateway/usage.jsonl")
USAGE_LIMIT = 64 << 20
ROUTES = (
    "/v1/chat/completions",
    "/chat/completions",
    "/v1/completions",
    "/completions",
    "/v1/embeddings",
    "/embeddings",
    "/v1/models",
    "/models",
)

COOLDOWN = float(os.environ.get("HOMEFORGE_GATEWAY_COOLDOWN", "30"))

_files = {}
_write_lock = threading.Lock()
_cooling = {}  # deployment id -> until when (time.monotonic()) new requests avoid it


def _load(path):
    """The JSON of ``path``, read again only when the file changed (inode, mtime, size)."""
    st = os.stat(path)
    stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
    cached = _files.get(path)
    if cached is None or cached[0] != stamp:
        with open(path) as handle:
            cached = (stamp, json.load(handle))
        _files[path] = cached
    return cached[1]


def _record(**fields):
    line = json.dumps(dict(t=round(time.time(), 3), **fields)) + "\n"
    with _write_lock:
        try:
            if os.path.getsize(USAGE) > USAGE_LIMIT:
                os.replace(USAGE, USAGE + ".1")
        except OSError:
            pass
        fd = os.open(USAGE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a") as handle:
            handle.write(line)


def _deny(code, message, consumer="", model=None, route=""):
    _record(consumer=consumer, model=model, route=route, status=code)
    return ProxyException(message=message, type="auth_error", param="None", code=code)


def _consumer_of(api_key):
    digest = hashlib.sha256((api_key or "").encode()).hexdigest()
    for name, entry in (_load(KEYS).get("keys") or {}).items():
        if isinstance(entry, dict) and entry.get("sha256") == digest:
            return name
    return None


async def user_api_key_auth(request, api_key):
    """LiteLLM's custom authentication: the consumer of ``api_key`` with its limits."""
    route = request.url.path
    name = _consumer_of(api_key) if api_key else None
    consumer = _load(CONSUMERS).get(name) if name else None
    if consumer is None:
        raise _deny(401, "invalid, revoked or missing key", route=route)
    if route not in ROUTES and not route.startswith("/v1/models/"):
        raise _deny(403, "this key reaches the OpenAI API only", name, route=route)
    model = None
    if request.method == "POST":
        model = (await _read_request_body(request)).get("model")
        if model not in consumer["models"]:
            raise _deny(403, "model %r is not allowed for this key" % (model,), name, model, route)
    return UserAPIKeyAuth(
        api_key=hashlib.sha256(("homeforge-consumer:" + name).encode()).hexdigest(),
        key_alias=name,
        key_name=name,
        user_id=name,
        models=list(consumer["models"]),
        rpm_limit=int(consumer["rpm"]),
        tpm_limit=int(consumer["tpm"]),
    )


def _tried(request_kwargs):
    """The deployments (Ollama hosts) this request already failed on: LiteLLM's router
    records each failed attempt in the request's metadata (``previous_models``)."""
    tried = set()
    for key in ("metadata", "litellm_metadata"):
        meta = (request_kwargs or {}).get(key) or {}
        for attempt in meta.get("previous_models") or ():
            if isinstance(attempt, dict) and attempt.get("deployment_id"):
                tried.add(attempt["deployment_id"])
    return tried


class UsageLogger(CustomLogger):
    """One record per answered or failed request (after authentication); and where a
    request goes when a host fails.

    LiteLLM's router retries a failed request (``num_retries``) on a deployment it picks
    again at random, and it never cools a deployment down for a connection error (its
    cooldown_handlers.py, ``_is_cooldown_required``, 1.108.7): with one of two Ollama hosts
    stopped, a request would fail whenever every attempt drew that host. So a retry goes
    to a host this request has not failed on, and a host that failed is left out of new
    requests for ``$HOMEFORGE_GATEWAY_COOLDOWN`` seconds (while another host serves the
    model; when none does, every host is tried).
    """

    async def async_filter_deployments(
        self, model, healthy_deployments, messages, request_kwargs=None, parent_otel_span=None
    ):
        tried, now = _tried(request_kwargs), time.monotonic()
        for deployment_id in tried:
            _cooling[deployment_id] = now + COOLDOWN

        def ident(deployment):
            return (deployment.get("model_info") or {}).get("id")

        untried = [d for d in healthy_deployments if ident(d) not in tried]
        warm = [d for d in untried if _cooling.get(ident(d), 0) <= now]
        return warm or untried or healthy_deployments

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        slo = kwargs.get("standard_logging_object") or {}
        meta = slo.get("metadata") or {}
        _record(
            consumer=meta.get("user_api_key_alias") or "",
            model=slo.get("model_group"),
            status=200,
            tokens_in=slo.get("prompt_tokens") or 0,
            tokens_out=slo.get("completion_tokens") or 0,
            ms=round((end_time - start_time).total_seconds() * 1000, 1),
            deployment=(slo.get("model_id") or ""),
        )

    async def async_post_call_failure_hook(
        self, request_data, original_exception, user_api_key_dict, traceback_str=None
    ):
        code = getattr(original_exception, "status_code", None) or getattr(
            original_exception, "code", None
        )
        try:
            code = int(code)
        except (TypeError, ValueError):
            code = 500
        if code in (401, 403) and isinstance(original_exception, ProxyException):
            return None  # recorded by user_api_key_auth, with its consumer
        _record(
            consumer=user_api_key_dict.key_alias or "",
            model=request_data.get("model"),
            status=code,
        )
        return None


usage_logger = UsageLogger()
