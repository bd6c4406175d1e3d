"""Schemathesis hooks for fuzzing Crosspost's API: how a request is signed, in one place.

Loaded through SCHEMATHESIS_HOOKS by `tests/tests/fuzz_api.rs`, which reads its
settings from the environment:

- CROSSPOST_FUZZ_SECRET: the `whsec_...` secret to sign with. Without it nothing is
  signed, and the check `signed_routes_refuse_unsigned` requires every operation that
  declares a security requirement to answer 401.
- CROSSPOST_FUZZ_EXPECTED: a JSON list of known findings, each
  {"method", "path", "check", "status", "why", and optionally "errors" (a list of
  [pointer pattern, text] pairs: every `errors[]` entry of the answer must match one,
  its pointer by the pattern (`*` standing for one segment, `**` for any pointer), and
  its detail holding
  the text), "detail" (text the answer's `detail` holds) and "sent" (text the
  request body holds)}: a failure of that check that matches is accepted, through
  the check `<check>_except_known`, and every other one still fails.

Signing is Standard Webhooks (https://www.standardwebhooks.com/): `webhook-id`,
`webhook-timestamp`, and `webhook-signature: v1,<base64 HMAC-SHA256>` of
`{id}.{timestamp}.{body}`, keyed with the base64 key after `whsec_`. It is computed by
a `requests` auth hook, on the request exactly as it leaves (the serialised body);
every route but `POST /v1/posts` binds its method, path and query too
(`signed_content`).
"""

import base64
import hashlib
import hmac
import json
import os
import time
import uuid

import schemathesis

SECRET = os.environ.get("CROSSPOST_FUZZ_SECRET", "")
EXPECTED = json.loads(os.environ.get("CROSSPOST_FUZZ_EXPECTED", "[]"))


def signing_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret (base64, `=` padding optional)."""
    encoded = secret.removeprefix("whsec_")
    return base64.b64decode(encoded + "=" * (-len(encoded) % 4))


def signed_content(webhook_id: str, timestamp: str, request) -> bytes:
    """What a signature covers (README "Security"): for `POST /v1/posts`, plain
    Standard Webhooks, `{id}.{timestamp}.{body}`; for every other route, the request
    signature `{id}.{timestamp}.{METHOD} {path}[?{query}]\n{body}`, the path and query
    exactly as sent."""
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode()
    target = request.path_url
    if request.method.upper() == "POST" and target.split("?", 1)[0] == "/v1/posts":
        return f"{webhook_id}.{timestamp}.".encode() + body
    return f"{webhook_id}.{timestamp}.{request.method.upper()} {target}\n".encode() + body


class StandardWebhooksAuth:
    """A `requests` auth: signs the prepared request."""

    def __init__(self, secret: str):
        self.key = signing_key(secret)

    def __call__(self, request):
        webhook_id = f"msg_{uuid.uuid4().hex}"
        timestamp = str(int(time.time()))
        digest = hmac.new(self.key, signed_content(webhook_id, timestamp, request), hashlib.sha256).digest()
        request.headers["webhook-id"] = webhook_id
        request.headers["webhook-timestamp"] = timestamp
        request.headers["webhook-signature"] = "v1," + base64.b64encode(digest).decode()
        return request


@schemathesis.hook
def before_call(context, case, kwargs):
    # Generated values for the signature headers (the security scheme names
    # `webhook-signature`) are dropped: a request is either signed here or not at all.
    if case.headers:
        for name in list(case.headers):
            if name.lower().startswith("webhook-"):
                del case.headers[name]
    if SECRET:
        kwargs["auth"] = StandardWebhooksAuth(SECRET)


def _is_signed(operation) -> bool:
    security = operation.definition.raw.get("security")
    if security is None:
        security = operation.schema.raw_schema.get("security", [])
    return any(requirement for requirement in security)


@schemathesis.check
def signed_routes_refuse_unsigned(ctx, response, case):
    """Without a signature, an operation that requires one answers 401."""
    # The coverage phase also sends methods an operation does not have (TRACE, ...):
    # those answer 404 or 405 before any signature is looked at.
    if SECRET or case.method.upper() != case.operation.method.upper():
        return None
    if not _is_signed(case.operation):
        return None
    if response.status_code != 401:
        raise AssertionError(
            f"{case.operation.method.upper()} {case.operation.path} answered "
            f"{response.status_code} to an unsigned request; expected 401"
        )
    return None


def _answer(response) -> dict:
    try:
        answer = response.json()
    except Exception:
        return {}
    return answer if isinstance(answer, dict) else {}


def _pointer_matches(pattern: str, pointer: str) -> bool:
    if pattern == "**":
        return True
    want, got = pattern.split("/"), pointer.split("/")
    return len(want) == len(got) and all(w in ("*", g) for w, g in zip(want, got))


def _known_error(error: dict, known_errors) -> bool:
    pointer, detail = str(error.get("pointer", "")), str(error.get("detail", ""))
    return any(_pointer_matches(p, pointer) and text in detail for p, text in known_errors)


def _matches(known: dict, case, check_name: str, response) -> bool:
    if (
        known["method"].upper() != case.method.upper()
        or known["path"] != case.operation.path
        or known["check"] != check_name
        or known["status"] != response.status_code
    ):
        return False
    answer = _answer(response)
    if "errors" in known:
        errors = [e for e in answer.get("errors", []) if isinstance(e, dict)]
        if not errors or not all(_known_error(e, known["errors"]) for e in errors):
            return False
    if "detail" in known and known["detail"] not in str(answer.get("detail", "")):
        return False
    if "sent" in known:
        sent = response.request.body or b""
        if isinstance(sent, bytes):
            sent = sent.decode("utf-8", "replace")
        if known["sent"] not in sent:
            return False
    return True


def _accepting_known(check_name: str):
    """The built-in check `check_name`, passing the known findings listed in
    CROSSPOST_FUZZ_EXPECTED (each names the issue that fixes it)."""
    from schemathesis.checks import CHECKS

    builtin = CHECKS.get_by_names([check_name])[0]

    def accepting(ctx, response, case):
        try:
            return builtin(ctx, response, case)
        except Exception:
            if any(_matches(known, case, check_name, response) for known in EXPECTED):
                return None
            raise

    accepting.__name__ = f"{check_name}_except_known"
    return accepting


if EXPECTED:
    for _name in sorted({known["check"] for known in EXPECTED}):
        schemathesis.check(_accepting_known(_name))
