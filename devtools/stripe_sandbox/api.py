"""The sandbox's HTTP face: Stripe's REST API under /v1 (form-encoded, Bearer key, idempotency
keys, Stripe's error JSON), the hosted pages, and the JSON test controls under /_sandbox."""

from __future__ import annotations

import base64
import json
import secrets
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import NotFound as RouteNotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from devtools.stripe_sandbox import pages
from devtools.stripe_sandbox.encoding import BadParam, as_bool, decode
from devtools.stripe_sandbox.sandbox import Conflict, Sandbox
from devtools.stripe_sandbox.store import API_VERSION, NotFound

#: URL collection -> object kind, and the list filters each accepts.
COLLECTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "customers": ("customer", ("email",)),
    "products": ("product", ()),
    "prices": ("price", ("product", "currency", "type")),
    "checkout/sessions": ("checkout.session", ("customer", "subscription", "payment_intent", "status")),
    "subscriptions": ("subscription", ("customer",)),
    "invoices": ("invoice", ("customer", "status")),
    "invoice_payments": ("invoice_payment", ("invoice",)),
    "payment_intents": ("payment_intent", ("customer",)),
    "charges": ("charge", ("customer", "payment_intent")),
    "refunds": ("refund", ("charge", "payment_intent")),
    "disputes": ("dispute", ("charge", "payment_intent")),
    "payment_methods": ("payment_method", ("customer", "type")),
    "events": ("event", ("type",)),
}
_SIMPLE = ",".join(name for name in COLLECTIONS if "/" not in name)

URLS = Map(
    [
        Rule("/v1/customers", methods=["POST"], endpoint="create_customer"),
        Rule("/v1/customers/<object_id>", methods=["POST"], endpoint="update_customer"),
        Rule("/v1/products", methods=["POST"], endpoint="create_product"),
        Rule("/v1/products/<object_id>", methods=["POST"], endpoint="update_product"),
        Rule("/v1/prices", methods=["POST"], endpoint="create_price"),
        Rule("/v1/prices/<object_id>", methods=["POST"], endpoint="update_price"),
        Rule("/v1/checkout/sessions", methods=["POST"], endpoint="create_checkout_session"),
        Rule("/v1/checkout/sessions/<object_id>/expire", methods=["POST"], endpoint="expire_session"),
        Rule("/v1/checkout/sessions/<object_id>/line_items", methods=["GET"], endpoint="session_line_items"),
        Rule("/v1/subscriptions/<object_id>", methods=["POST"], endpoint="update_subscription"),
        Rule("/v1/subscriptions/<object_id>", methods=["DELETE"], endpoint="cancel_subscription"),
        Rule("/v1/refunds", methods=["POST"], endpoint="create_refund"),
        Rule("/v1/billing_portal/sessions", methods=["POST"], endpoint="create_portal_session"),
        Rule(f"/v1/<any({_SIMPLE}):collection>", methods=["GET"], endpoint="list"),
        Rule(f"/v1/<any({_SIMPLE}):collection>/<object_id>", methods=["GET"], endpoint="retrieve"),
        Rule(
            "/v1/checkout/sessions",
            methods=["GET"],
            endpoint="list",
            defaults={"collection": "checkout/sessions"},
        ),
        Rule(
            "/v1/checkout/sessions/<object_id>",
            methods=["GET"],
            endpoint="retrieve",
            defaults={"collection": "checkout/sessions"},
        ),
        Rule("/checkout/<object_id>", methods=["GET"], endpoint="page_checkout"),
        Rule(
            "/checkout/<object_id>/<any(pay,pay_by_direct_debit,decline):action>",
            methods=["POST"],
            endpoint="page_checkout_action",
        ),
        Rule("/portal/<object_id>", methods=["GET"], endpoint="page_portal"),
        Rule(
            "/portal/<object_id>/<any(cancel,resume,card):action>",
            methods=["POST"],
            endpoint="page_portal_action",
        ),
        Rule("/_sandbox/static/sandbox.css", methods=["GET"], endpoint="stylesheet"),
        Rule("/_sandbox/events", methods=["GET"], endpoint="control_events"),
        Rule("/_sandbox/objects/<object_id>", methods=["GET"], endpoint="control_object"),
        Rule("/_sandbox/<control>", methods=["POST"], endpoint="control"),
        Rule("/", methods=["GET"], endpoint="index"),
        Rule("/favicon.ico", methods=["GET"], endpoint="favicon"),
    ],
    merge_slashes=False,
)

#: POST /_sandbox/<name> with a JSON body of keyword arguments.
CONTROLS = (
    "pay", "decline", "expire", "renew", "fail_renewal", "give_up", "refund", "dispute",
    "set_cancel_at_period_end", "reset", "take_events", "fail_next",
    "pay_by_direct_debit", "settle_direct_debit", "return_direct_debit", "set_card_expiry",
)  # fmt: skip


def stripe_error(status: int, message: str, *, kind: str = "invalid_request_error", **extra: Any) -> Response:
    body = {"error": {"message": message, "type": kind, **{k: v for k, v in extra.items() if v is not None}}}
    return _json(body, status)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = Response(json.dumps(body, indent=2), status=status, mimetype="application/json")
    response.headers["Request-Id"] = "req_" + secrets.token_hex(7)
    response.headers["Stripe-Version"] = API_VERSION
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


class SandboxApp:
    """The WSGI application serving one `Sandbox`."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        response = self.dispatch(request)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        adapter = URLS.bind_to_environ(request.environ)
        try:
            endpoint, matched = adapter.match()
            args = dict(matched)
        except RouteNotFound:
            return stripe_error(404, f"Unrecognized request URL ({request.method}: {request.path}).")
        except HTTPException as error:
            return stripe_error(
                error.code or 405, f"Unrecognized request URL ({request.method}: {request.path})."
            )
        if endpoint == "favicon":
            return Response(status=204)
        if endpoint.startswith("page_") or endpoint in ("stylesheet", "index"):
            return pages.handle(self.sandbox, request, endpoint, args)
        if endpoint.startswith("control"):
            return self.control(request, endpoint, args)
        return self.api(request, endpoint, args)

    # --- the REST API --------------------------------------------------------------------------

    def _authorised(self, request: Request) -> Response | None:
        header = request.headers.get("Authorization", "")
        key = ""
        if header.startswith("Bearer "):
            key = header[len("Bearer ") :].strip()
        elif header.startswith("Basic "):
            try:
                key = base64.b64decode(header[6:]).decode().split(":", 1)[0]
            except ValueError:
                key = ""
        if not key:
            return stripe_error(
                401,
                "You did not provide an API key. Provide it in the Authorization header as a Bearer token.",
            )
        if not secrets.compare_digest(key, self.sandbox.secret_key):
            return stripe_error(401, f"Invalid API Key provided: {key[:8]}{'*' * 8}")
        return None

    def api(self, request: Request, endpoint: str, args: dict[str, str]) -> Response:
        refused = self._authorised(request)
        if refused is not None:
            return refused
        params = (
            decode(request.args.items(multi=True))
            if request.method == "GET"
            else decode(request.form.items(multi=True))
        )
        failure = self.sandbox.take_failure(request.path)
        if failure == "hang":
            time.sleep(getattr(self.sandbox, "hang_seconds", 30.0))  # outside the lock: other calls go on
        if failure in ("error_500", "hang"):
            return stripe_error(
                500, "An unknown error occurred (simulated by the sandbox).", kind="api_error"
            )
        key = request.headers.get("Idempotency-Key") if request.method in ("POST", "DELETE") else None
        with self.sandbox.lock:
            if key:
                replay = self._replay(key, request, params)
                if replay is not None:
                    return replay
            response = self._run(endpoint, args, params, request, key)
            if key and response.status_code != 400:
                self.sandbox.idempotency[key] = {
                    "method": request.method,
                    "path": request.path,
                    "params": params,
                    "status": response.status_code,
                    "body": response.get_data(as_text=True),
                }
                self.sandbox.save()
        if failure == "drop_after":
            _drop_connection(request)
        return response

    def _replay(self, key: str, request: Request, params: dict[str, Any]) -> Response | None:
        stored = self.sandbox.idempotency.get(key)
        if stored is None:
            return None
        if stored["method"] != request.method or stored["path"] != request.path or stored["params"] != params:
            return stripe_error(
                400,
                "Keys for idempotent requests can only be used with the same parameters they were first used "
                f"with. Try using a key other than '{key}' if you meant to execute a different request.",
                kind="idempotency_error",
            )
        response = Response(stored["body"], status=stored["status"], mimetype="application/json")
        response.headers["Idempotent-Replayed"] = "true"
        response.headers["Original-Request"] = "req_sandbox"
        response.headers["Stripe-Version"] = API_VERSION
        return response

    def _run(
        self, endpoint: str, args: dict[str, str], params: dict[str, Any], request: Request, key: str | None
    ) -> Response:
        sandbox = self.sandbox
        expand = params.pop("expand", None)
        base_url = request.host_url.rstrip("/")
        object_id = args.get("object_id", "")
        try:
            if endpoint == "list":
                return _json(self._list(args["collection"], params, expand))
            if endpoint == "retrieve":
                kind = COLLECTIONS[args["collection"]][0]
                obj = sandbox.get(kind, object_id)
                return _json(sandbox.expand(obj, expand))
            if endpoint == "session_line_items":
                return _json(sandbox.expand(sandbox.session_line_items(object_id), expand))
            handlers: dict[str, Callable[[], dict[str, Any]]] = {
                "create_customer": lambda: _emit_created(
                    sandbox, "customer.created", sandbox.create_customer(params)
                ),
                "update_customer": lambda: sandbox.update_customer(object_id, params),
                "create_product": lambda: _emit_created(
                    sandbox, "product.created", sandbox.create_product(params)
                ),
                "update_product": lambda: sandbox.update_product(object_id, params),
                "create_price": lambda: _emit_created(sandbox, "price.created", sandbox.create_price(params)),
                "update_price": lambda: sandbox.update_price(object_id, params),
                "create_checkout_session": lambda: sandbox.create_checkout_session(params, base_url),
                "expire_session": lambda: sandbox.expire(object_id),
                "update_subscription": lambda: sandbox.update_subscription(object_id, params),
                "cancel_subscription": lambda: sandbox.cancel_subscription(object_id, params),
                "create_refund": lambda: sandbox.create_refund(params),
                "create_portal_session": lambda: sandbox.create_portal_session(params, base_url),
            }
            obj = handlers[endpoint]()
            sandbox.save()
            return _json(sandbox.expand(obj, expand))
        except NotFound as error:
            return stripe_error(404, str(error), code="resource_missing", param="id")
        except BadParam as error:
            return stripe_error(
                400,
                str(error),
                code=error.code or ("parameter_unknown" if "unknown parameter" in str(error) else None),
                param=error.param,
            )
        except Conflict as error:
            return stripe_error(400, str(error))

    def _list(self, collection: str, params: dict[str, Any], expand: Any) -> dict[str, Any]:
        kind, filters = COLLECTIONS[collection]
        sandbox = self.sandbox
        match = None
        if kind == "subscription":
            status = params.get("status") or ""
            price = params.get("price")

            def match(o: dict[str, Any]) -> bool:
                if status == "" and o["status"] in ("canceled", "incomplete_expired"):
                    return False
                if status not in ("", "all") and o["status"] != status:
                    return False
                return not price or any(it["price"]["id"] == price for it in o["items"]["data"])
        elif kind == "invoice" and params.get("subscription"):
            wanted = params["subscription"]

            def match(o: dict[str, Any]) -> bool:
                details = (o.get("parent") or {}).get("subscription_details") or {}
                return details.get("subscription") == wanted
        elif kind in ("product", "price") and params.get("active") not in (None, ""):
            active = as_bool(params["active"], "active")

            def match(o: dict[str, Any]) -> bool:
                return bool(o["active"]) == active
        elif kind == "event" and params.get("types"):
            types = set(params["types"] if isinstance(params["types"], list) else [params["types"]])

            def match(o: dict[str, Any]) -> bool:
                return o["type"] in types

        with sandbox.lock:
            page = sandbox.list_page(kind, f"/v1/{collection}", params, match, filters)
            if expand:
                page = sandbox.expand(page, expand)
        return page

    # --- test controls -------------------------------------------------------------------------

    def control(self, request: Request, endpoint: str, args: dict[str, str]) -> Response:
        sandbox = self.sandbox
        if endpoint == "control_events":
            return _json({"object": "list", "data": sandbox.events(request.args.get("type") or None)})
        if endpoint == "control_object":
            try:
                return _json(sandbox.object(args["object_id"]))
            except KeyError:
                return stripe_error(404, f"No such object: '{args['object_id']}'", code="resource_missing")
        name = args["control"]
        if name not in CONTROLS:
            return stripe_error(404, f"Unknown sandbox control: {name}")
        try:
            kwargs = request.get_json(force=True, silent=True) or {}
            if not isinstance(kwargs, dict):
                return stripe_error(400, "The body must be a JSON object of arguments.")
            result = getattr(sandbox, name)(**kwargs)
        except (TypeError, BadParam, Conflict, ValueError) as error:
            return stripe_error(400, str(error))
        except NotFound as error:
            return stripe_error(404, str(error), code="resource_missing")
        return _json({"ok": True} if result is None else result)


def _emit_created(sandbox: Sandbox, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
    sandbox.emit(event_type, obj)
    return obj


def _drop_connection(request: Request) -> None:
    """Close the socket without answering, as a network failure after Stripe did the work would."""
    sock = request.environ.get("werkzeug.socket")
    if isinstance(sock, socket.socket):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    raise ConnectionAbortedError("sandbox dropped the connection on purpose")
