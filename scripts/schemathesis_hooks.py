# Schemathesis hooks for push-server (loaded by scripts/schemathesis.sh via SCHEMATHESIS_HOOKS).
#
# They own two things the OpenAPI document cannot carry:
# 1. Relay signatures. `POST /clients/{client_id}` is signed with Ed25519 over
#    `{timestamp}.{body length}.{raw body}`; every generated request is signed here over the exact
#    bytes `requests` will send, so the fuzzer reaches the body, client and delivery checks behind
#    the signature. Cases whose *headers* were generated invalid on purpose (negative mode) keep
#    them, so the server's 401 answers are fuzzed too.
# 2. Rules JSON Schema cannot express, for *positive* cases only (negative cases are sent as
#    generated, and every rule below also has its own Rust tests):
#    - byte lengths: `maxLength` counts characters, the server counts UTF-8 bytes (client id and
#      notification id <= 255, token <= 4096), so over-long multi-byte strings are cut to fit;
#    - `did:key:` is stripped before the client id's rules apply, so a bare `did:key:` is empty;
#    - the cleartext `blob` (Encrypted flag clear) is base64 of a JSON notify message, which no
#      `pattern` can describe: a valid one is built around the generated text;
#    - providers take at most 4 KiB of rendered message, a bound on topic + blob after JSON
#      escaping, so those are cut to fit.
#    Positive send cases also register their client first, so delivery (not only 404) is fuzzed:
#    with `always_raw: true` when the body holds a complete raw form (`{topic, tag, message}`),
#    since such a client is sent that form, and as a classic client otherwise. When that
#    registration is refused (the rate-limited pass), the body gets both forms, since the client
#    may be left registered with either `always_raw` by an earlier generated request.
# 3. Projects. Positive cases of the project routes (`/{project_id}/clients...`) go to `fuzz-app`,
#    the default project's alias on the fuzz server, and are fitted and signed like the default
#    routes'. Positive admin requests get a project that exists and,
#    for credential uploads, credentials that work (the token itself is given in schemathesis.toml) (made here, no key material is committed):
#    the checks of bad credentials have their own Rust tests (tests/projects).

import base64
import json
import os
import time
from urllib.parse import quote, unquote

import requests
import schemathesis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from schemathesis.core.parameters import ParameterLocation

RELAY_KEY = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(os.environ["PUSH_FUZZ_RELAY_SEED"]))
BASE_URL = os.environ["PUSH_FUZZ_BASE_URL"]
SEND_PATH = "/clients/{client_id}"
PROJECT_REGISTER_PATH = "/{project_id}/clients"
PROJECT_SEND_PATH = "/{project_id}/clients/{client_id}"
REGISTER_PATHS = ("/clients", PROJECT_REGISTER_PATH)
SEND_PATHS = (SEND_PATH, PROJECT_SEND_PATH)
FUZZ_PROJECT = "fuzz-app"
PROJECT_VAPID_PATH = "/{project_id}/webpush/vapid-public-key"
WEBPUSH_HOST = os.environ["PUSH_FUZZ_WEBPUSH_HOST"]
ADMIN_TOKEN = os.environ["PUSH_FUZZ_ADMIN_TOKEN"]
RESERVED = {"admin", "clients", "health", "metrics", "docs", "openapi.json", "openapi.yaml", FUZZ_PROJECT}
# Room left for the rendered message's own structure under the providers' 4096-byte limit.
CONTENT_BUDGET = 2800


def _cut_bytes(text, limit):
    """`text` cut to at most `limit` UTF-8 bytes, on a character boundary."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "ignore")


def _client_id(text):
    text = _cut_bytes(text, 255 + len("did:key:") if text.startswith("did:key:") else 255)
    if text.startswith("did:key:"):
        rest = _cut_bytes(text[len("did:key:"):], 255)
        text = "did:key:" + (rest or "x")
    return text or "x"


def _escaped_len(text):
    return len(json.dumps(text, ensure_ascii=False).encode("utf-8", "surrogatepass"))


def _is_positive(case):
    meta = case.meta
    return meta is None or meta.generation.mode.is_positive


def _negative_at(case, location):
    meta = case.meta
    return meta is not None and meta.is_negative_at(location)


def _fit_positive(case):
    path = case.operation.path
    if path in (PROJECT_REGISTER_PATH, PROJECT_SEND_PATH, PROJECT_VAPID_PATH) and case.path_parameters is not None:
        case.path_parameters["project_id"] = FUZZ_PROJECT
    if case.path_parameters and isinstance(case.path_parameters.get("client_id"), str):
        # Path values arrive percent-encoded and are substituted into the URL as they are.
        raw = unquote(case.path_parameters["client_id"])
        segment = quote(_client_id(raw), safe="")
        # `.` and `..` are dot segments that the URL would drop (`/clients/.` is `/clients/`);
        # percent-encoded they reach the server as the id.
        if segment in (".", ".."):
            segment = segment.replace(".", "%2E")
        case.path_parameters["client_id"] = segment
    if (path in REGISTER_PATHS or path in SEND_PATHS) and case.headers:
        # A client JWT is a signature by the client's own key, which no generated client id has;
        # tests/api/wallets.rs covers it. Without one, registration is open (CLIENT_AUTH=optional).
        case.headers.pop("Authorization", None)
    body = case.body
    if not isinstance(body, dict):
        return
    if path in REGISTER_PATHS:
        if isinstance(body.get("client_id"), str):
            body["client_id"] = _client_id(body["client_id"])
        if isinstance(body.get("token"), str):
            body["token"] = _cut_bytes(body["token"], 4096)
        if isinstance(body.get("type"), str) and body["type"].lower() == "webpush":
            # A browser's subscription at the push service on loopback that the fuzz script runs.
            body["token"] = _subscription(body.get("client_id"))
    elif path in SEND_PATHS:
        if _is_raw_form(body):
            topic, message = body["topic"], body["message"]
            while _escaped_len(topic) + _escaped_len(message) > CONTENT_BUDGET:
                if len(message) >= len(topic):
                    message = message[: len(message) // 2]
                else:
                    topic = topic[: max(1, len(topic) // 2)]
            body["topic"], body["message"] = topic or "x", message or "x"
        if isinstance(body.get("id"), str):
            body["id"] = _cut_bytes(body["id"], 255) or "x"
        payload = body.get("payload")
        if not isinstance(payload, dict):
            return
        topic, blob, flags = payload.get("topic"), payload.get("blob"), payload.get("flags")
        if not (isinstance(topic, str) and isinstance(blob, str) and isinstance(flags, int)):
            return
        while _escaped_len(topic) + _escaped_len(blob) > CONTENT_BUDGET:
            if len(blob) >= len(topic):
                blob = blob[: len(blob) // 2]
            else:
                topic = topic[: max(1, len(topic) // 2)]
        if flags & 1 == 0:
            # Cleartext: the generated text becomes the title of a valid notify message.
            message = {"title": blob, "body": topic}
            blob = base64.b64encode(json.dumps(message).encode()).decode()
        elif not blob:
            blob = "x"
        payload["topic"], payload["blob"] = topic, blob


def _subscription(client_id):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    point = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    b64 = lambda raw: base64.urlsafe_b64encode(raw).decode().rstrip("=")
    endpoint = f"http://{WEBPUSH_HOST}/push/{quote(str(client_id or 'x'), safe='')}"
    return {"endpoint": endpoint, "keys": {"p256dh": b64(point), "auth": b64(os.urandom(16))}}


def _is_raw_form(body):
    """Whether `body` holds the raw form with the right JSON types (its values are fitted above)."""
    tag = body.get("tag")
    return (
        isinstance(body.get("topic"), str)
        and isinstance(body.get("message"), str)
        and isinstance(tag, int)
        and not isinstance(tag, bool)
        and 0 <= tag <= 0xFFFFFFFF
    )


def _is_classic_form(body):
    """Whether `body` holds a usable classic form (its values are fitted above)."""
    payload = body.get("payload")
    return (
        isinstance(body.get("id"), str)
        and body["id"] != ""
        and isinstance(payload, dict)
        and isinstance(payload.get("topic"), str)
        and payload["topic"] != ""
        and isinstance(payload.get("flags"), int)
        and not isinstance(payload.get("flags"), bool)
        and isinstance(payload.get("blob"), str)
    )


def _with_both_forms(body):
    # When the registration was refused (429 in the rate-limited pass), the client may still be
    # registered from an earlier generated request, with either `always_raw`: a body carrying
    # both forms is acceptable to it whichever form it gets.
    if not _is_raw_form(body):
        body.update({"topic": "fuzz-topic", "tag": 0, "message": "fuzz-message"})
    if not _is_classic_form(body):
        body["id"] = "fuzz-id"
        body["payload"] = {"topic": "fuzz-topic", "flags": 1, "blob": "fuzz-blob"}


def _ensure_client(client_id, always_raw):
    """Registers the client; whether it was registered (a 429 leaves it as it was)."""
    # A fresh FCM-typed registration under this id, so the send reaches dedup and the log sink;
    # `always_raw` picks the form of the body that this client is sent.
    response = requests.post(
        f"{BASE_URL}/clients",
        json={
            "client_id": client_id,
            "type": "fcm",
            "token": f"fuzz-token-{abs(hash(client_id))}",
            "always_raw": always_raw,
        },
        timeout=10,
    )
    return response.status_code == 200


def _body_bytes(case):
    """The exact bytes the requests transport sends for this case."""
    kwargs = case.as_transport_kwargs(base_url=BASE_URL)
    prepared = requests.Request(
        method=kwargs["method"],
        url=kwargs["url"],
        headers=kwargs.get("headers"),
        data=kwargs.get("data"),
        json=kwargs.get("json"),
        files=kwargs.get("files"),
    ).prepare()
    body = prepared.body or b""
    return body.encode("utf-8") if isinstance(body, str) else body


def _admin(method, path, body=None):
    return requests.request(
        method, f"{BASE_URL}{path}", json=body, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10
    )


def _apns_credentials():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return {"topic": "com.example.fuzz", "key_id": "FUZZKEY001", "team_id": "FUZZTEAM01", "key": key.decode()}


def _service_account():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return {
        "type": "service_account",
        "project_id": "fuzz-firebase",
        "client_email": "fuzz@fuzz-firebase.iam.gserviceaccount.com",
        "private_key": key.decode(),
        "token_uri": "http://127.0.0.1:9/token",
    }


def _fit_admin(case):
    """A positive admin case: a project id that can be created, the project itself, and working
    credentials for an upload."""
    path, method = case.operation.path, case.operation.method.upper()
    if case.path_parameters and isinstance(case.path_parameters.get("project_id"), str):
        project = unquote(case.path_parameters["project_id"])
        if project in RESERVED:
            project = f"p-{project}"[:64].replace(".", "-")
        case.path_parameters["project_id"] = quote(project, safe="")
        if not (method == "DELETE" and path == "/admin/projects/{project_id}"):
            _admin("PUT", f"/admin/projects/{project}", {})
        if method == "PUT" and path.endswith("/apns"):
            case.body = _apns_credentials()
        elif method == "PUT" and path.endswith("/fcm"):
            case.body = _service_account()
        elif method == "PUT" and path.endswith("/webpush"):
            case.body = {"subject": "mailto:fuzz@push-server.local"}


@schemathesis.hook
def before_call(context, case, kwargs):
    path, method = case.operation.path, case.operation.method.upper()
    if _is_positive(case):
        _fit_positive(case)
        if path.startswith("/admin/"):
            _fit_admin(case)
        if method == "POST" and path in SEND_PATHS:
            body = case.body
            always_raw = isinstance(body, dict) and _is_raw_form(body)
            registered = _ensure_client(unquote(case.path_parameters["client_id"]), always_raw)
            if not registered and isinstance(body, dict):
                _with_both_forms(body)
    if method != "POST" or path not in SEND_PATHS:
        return
    if _negative_at(case, ParameterLocation.HEADER):
        return
    timestamp = str(int(time.time()))
    body = _body_bytes(case)
    message = timestamp.encode() + b"." + str(len(body)).encode() + b"." + body
    if case.headers is None:
        case.headers = {}
    case.headers["X-Ed25519-Timestamp"] = timestamp
    case.headers["X-Ed25519-Signature"] = RELAY_KEY.sign(message).hex()
