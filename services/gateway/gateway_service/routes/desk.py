"""The customer-service desk: pages for agents under `/desk` (server-rendered, no scripts), signed in with a cookie.
Every change is a form carrying the session's CSRF token, checked against the agent's role, and sent as a message
on `oms.orders.inbound.v1` naming the agent, as any operator's request is; the order's timeline shows it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError

from contracts.base import Message, new_id
from contracts.channels import (
    FulfillmentMoveRequested,
    NotificationResendRequested,
    OrderCancelRequested,
    OrderChangeRequested,
    OrderHoldReleased,
    OrderHoldRequested,
    OrderNoteAdded,
    OrderSubmitted,
    RefundGoodwillRequested,
    order_id_for,
)
from contracts.promises import PromiseRequested
from gateway_service.agents import Session, may, refund_allowed
from gateway_service.checks import GateOf, read_body
from gateway_service.edge import Desk, Gate, Unavailable
from gateway_service.page import SHIPMENT_WORDS
from runtime.logging import log
from runtime.messaging import problems

COOKIE = "oms_desk"
PHONE_CHANNEL = "callcenter"
# a shipment whose location may not have started (`in_fulfillment` may be picked already: the move is refused then,
# with the reason in the timeline)
MOVABLE = ("released", "in_fulfillment")
router = APIRouter(prefix="/desk", include_in_schema=False)
_pages = Environment(loader=FileSystemLoader(Path(__file__).parent.parent / "templates"), autoescape=select_autoescape())


class SignInFirst(Exception):
    """No session (or an expired one): a page goes to the login form, a change is refused (401)."""


class DeskRefused(Exception):
    """A change the desk will not send: its status and why, shown on a page."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status, self.why = status, why


def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(_pages.get_template(name).render(**context), status,
                        headers={"Cache-Control": "no-store"})


async def desk_of(gate: GateOf) -> Desk:
    if gate.desk is None:
        raise DeskRefused(404, "this gateway runs no desk")
    return gate.desk


DeskOf = Annotated[Desk, Depends(desk_of)]


async def signed_in(request: Request, desk: DeskOf) -> Session:
    session: Session | None = await desk.agents.session(request.cookies.get(COOKIE))
    if session is None:
        raise SignInFirst(bool(request.cookies.get(COOKIE)))
    return session


Agent = Annotated[Session, Depends(signed_in)]


async def form_of(request: Request) -> dict[str, str]:
    """A posted form (`application/x-www-form-urlencoded`), each field's first value, trimmed."""
    raw = await read_body(request)
    if raw is None:
        raise DeskRefused(413, "the form is too large")
    return {k: v[0].strip() for k, v in parse_qs(raw.decode(errors="replace"), keep_blank_values=True).items()}


async def checked_form(request: Request, agent: Agent) -> dict[str, str]:
    """The form, once its CSRF token is the session's (a page of another site cannot post as the agent)."""
    form = await form_of(request)
    if not agent.csrf_matches(form.get("csrf")):
        log.warning("desk.csrf_refused", agent=agent.agent)
        raise DeskRefused(403, "this form is not from your desk session (CSRF token missing or wrong): reload the page")
    return form


Form = Annotated[dict[str, str], Depends(checked_form)]


def install(app: FastAPI) -> None:
    """The desk's answers to its own refusals: pages, not JSON."""
    @app.exception_handler(SignInFirst)
    async def sign_in_first(request: Request, exc: SignInFirst) -> Response:
        expired = bool(exc.args and exc.args[0])
        if request.method == "GET":
            return RedirectResponse(f"/desk/login?next={quote(request.url.path)}" + ("&expired=1" if expired else ""),
                                    303)
        return page("desk_refused.html", 401, why="your login has expired: sign in again" if expired else
                    "sign in first", agent=None)

    @app.exception_handler(DeskRefused)
    async def refused(request: Request, exc: DeskRefused) -> Response:
        return page("desk_refused.html", exc.status, why=exc.why, agent=None)


def _cookie(response: Response, desk: Desk, session: str, max_age: int | None) -> Response:
    response.set_cookie(COOKIE, session, max_age=max_age, path="/desk", httponly=True, samesite="strict",
                        secure=desk.secure_cookies)
    return response


def _next(target: str | None) -> str:
    return target if target and target.startswith("/desk") and "//" not in target else "/desk"


@router.get("/login")
async def login_form(desk: DeskOf, expired: bool = False, next: str | None = None) -> HTMLResponse:
    return page("desk_login.html", note="Your login has expired: sign in again." if expired else "",
                next=_next(next), agent=None)


@router.post("/login")
async def login(request: Request, desk: DeskOf) -> Response:
    form = await form_of(request)
    agent = await desk.agents.check_password(form.get("name", ""), form.get("password", ""))
    if agent is None:
        log.warning("desk.login_refused")
        return page("desk_login.html", 401, note="Wrong name or password.", next=_next(form.get("next")), agent=None)
    log.info("desk.signed_in", agent=agent, how="password")
    return _cookie(RedirectResponse(_next(form.get("next")), 303), desk, await desk.agents.sign_in(agent), None)


@router.get("/login/{link}")
async def login_link(link: str, desk: DeskOf) -> Response:
    agent = await desk.agents.redeem(link)
    if agent is None:
        return page("desk_refused.html", 401, why="this login link was used already or has expired: ask for a new one "
                    "(oms agent add NAME --role ...)", agent=None)
    log.info("desk.signed_in", agent=agent, how="link")
    return _cookie(RedirectResponse("/desk", 303), desk, await desk.agents.sign_in(agent), None)


@router.post("/logout")
async def logout(request: Request, desk: DeskOf, agent: Agent, form: Form) -> Response:
    await desk.agents.sign_out(request.cookies.get(COOKIE, ""))
    response = RedirectResponse("/desk/login", 303)
    response.delete_cookie(COOKIE, path="/desk")
    return response


@router.get("")
async def home(desk: DeskOf, agent: Agent) -> HTMLResponse:
    return page("desk_home.html", agent=agent, orders=[_row(v) for v in await desk.reads.attention()], q="",
                heading="On hold or late")


@router.get("/search")
async def search(desk: DeskOf, agent: Agent, q: str = "") -> HTMLResponse:
    found = await desk.reads.desk_search(q) if q.strip() else []
    return page("desk_home.html", agent=agent, orders=[_row(v) for v in found], q=q,
                heading=f"{len(found)} order(s) for “{q}”")


@router.get("/orders/{order_id}")
async def order_page(order_id: str, gate: GateOf, desk: DeskOf, agent: Agent, sent: str = "") -> HTMLResponse:
    view = await desk.reads.desk_order(order_id)
    if view is None:
        return page("desk_refused.html", 404, why=f"no order {order_id} (or not seen yet)", agent=agent)
    return page("desk_order.html", agent=agent, o=_order(view, gate), sent=sent, may=lambda a: may(agent.role, a),
                limit=desk.refund_limit, locations=[loc.id for loc in gate.network.locations])


@router.post("/orders/{order_id}/{action}")
async def act(order_id: str, action: str, desk: DeskOf, agent: Agent, form: Form) -> Response:
    if action not in ACTIONS:
        raise DeskRefused(404, f"no action {action!r}")
    if not may(agent.role, action):
        log.warning("desk.not_allowed", agent=agent.agent, action=action, order_id=order_id)
        raise DeskRefused(403, f"a {agent.role} may not {action}: ask a supervisor")
    view = await desk.reads.desk_order(order_id)
    if view is None:
        raise DeskRefused(404, f"no order {order_id}")
    try:
        key, message = ACTIONS[action](view, form, agent, desk)
    except ValidationError as exc:
        raise DeskRefused(400, f"not a valid {action}: {'; '.join(problems(exc))}") from exc
    await _send(desk, key, message)
    log.info("desk.sent", agent=agent.agent, action=action, type=message.type, order_id=order_id)
    return RedirectResponse(f"/desk/orders/{quote(order_id)}?sent={action}", 303)


async def _send(desk: Desk, key: str, message: Message) -> None:
    try:
        await desk.send(key, message)
    except Unavailable as exc:
        raise DeskRefused(503, "the OMS cannot take it now: try again in a moment") from exc


def _by(agent: Session, text: str | None) -> str:
    return f"{text or 'no reason given'} (by agent {agent.agent})"


def _cancel(view: dict[str, Any], form: dict[str, str], agent: Session, desk: Desk) -> tuple[str, Message]:
    lines = [{"sku": form["sku"], "quantity": int(form.get("quantity") or 1)}] if form.get("sku") else None
    return _channel_key(view), OrderCancelRequested.model_validate({
        "id": new_id(), "channel": view["channel"], "external_id": view["external_id"],
        "reason": _by(agent, form.get("reason")), "lines": lines})


def _change(view: dict[str, Any], form: dict[str, str], agent: Session, desk: Desk) -> tuple[str, Message]:
    address = {k: form[k] for k in ("name", "line1", "line2", "postal_code", "city", "country") if form.get(k)}
    return _channel_key(view), OrderChangeRequested.model_validate({
        "id": new_id(), "channel": view["channel"], "external_id": view["external_id"],
        "shipping_address": address or None, "shipping_speed": form.get("shipping_speed") or None,
        "reason": _by(agent, form.get("reason"))})


def _release(view: dict[str, Any], form: dict[str, str], agent: Session, desk: Desk) -> tuple[str, Message]:
    return _channel_key(view), OrderHoldReleased(channel=view["channel"], external_id=view["external_id"],
                                                 reason=_by(agent, form.get("reason")))


def _hold(view: dict[str, Any], form: dict[str, str], agent: Session, desk: Desk) -> tuple[str, Message]:
    return view["order_id"], OrderHoldRequested.model_validate(
        {"order_id": view["order_id"], "reason": form.get("reason", ""), "by": agent.agent})


def _note(view: dict[str, Any], form: dict[str, str], agent: Session, desk: Desk) -> tuple[str, Message]:
    return view["order_id"], OrderNoteAdded.model_validate(
        {"order_id": view["order_id"], "text": form.get("text", ""), "by": agent.agent})


def _move(view: dict[str, Any], form: dict[str, str], agent: Session, desk: Desk) -> tuple[str, Message]:
    return view["order_id"], FulfillmentMoveRequested.model_validate(
        {"order_id": view["order_id"], "shipment_id": form.get("shipment_id") or None,
         "to_location_id": form.get("to_location_id", ""), "by": agent.agent})


def _refund(view: dict[str, Any], form: dict[str, str], agent: Session, desk: Desk) -> tuple[str, Message]:
    try:
        amount = Decimal(form.get("amount", ""))
    except InvalidOperation as exc:
        raise DeskRefused(400, f"{form.get('amount')!r} is not an amount") from exc
    why = refund_allowed(agent.role, amount, desk.refund_limit)
    if why is not None:
        log.warning("desk.refund_refused", agent=agent.agent, order_id=view["order_id"])
        raise DeskRefused(403, why)
    return view["order_id"], RefundGoodwillRequested.model_validate(
        {"order_id": view["order_id"], "amount": format(amount, "f"), "reason": form.get("reason", ""),
         "by": agent.agent})


def _resend(view: dict[str, Any], form: dict[str, str], agent: Session, desk: Desk) -> tuple[str, Message]:
    return view["order_id"], NotificationResendRequested.model_validate(
        {"order_id": view["order_id"], "notification_id": form.get("notification_id", ""), "by": agent.agent})


def _channel_key(view: dict[str, Any]) -> str:
    return f"{view['channel']}:{view['external_id']}"


ACTIONS = {"cancel": _cancel, "change": _change, "hold": _hold, "release": _release, "note": _note, "move": _move,
           "refund": _refund, "resend": _resend}


@router.get("/phone")
async def phone_form(agent: Agent) -> HTMLResponse:
    return page("desk_phone.html", agent=agent, f={"country": "DE", "currency": "EUR", "speed": "standard"},
                options=None, problem="")


@router.post("/phone")
async def phone_order(gate: GateOf, agent: Agent, form: Form) -> Response:
    """`quote`: what the customer can be told (availability and the promise, from the OMS's own quote); `place`:
    the order, on the `callcenter` channel as any channel's, on the quote the agent read out when there is one."""
    if not may(agent.role, "phone_order"):
        raise DeskRefused(403, f"a {agent.role} may not place orders")
    lines = [{"sku": form[f"sku{n}"], "quantity": int(form.get(f"qty{n}") or 1), "unit_price": form.get(f"price{n}")
              or "0"} for n in (1, 2, 3) if form.get(f"sku{n}")]
    if not lines:
        return page("desk_phone.html", 400, agent=agent, f=form, options=None, problem="name at least one SKU")
    if form.get("do") == "quote":
        return await _quote(gate, agent, form, lines)
    external_id = f"CC-{uuid.uuid4().hex[:10].upper()}"
    address = {"name": form.get("name"), "line1": form.get("line1"), "city": form.get("city"),
               "postal_code": form.get("postal_code"), "country": form.get("country")}
    body = {"id": new_id(), "channel": PHONE_CHANNEL, "external_id": external_id,
            "placed_at": datetime.now(UTC).isoformat(), "currency": form.get("currency") or "EUR",
            "customer": {"id": form.get("email") or external_id, "email": form.get("email"),
                         "phone": form.get("phone") or None, "name": form.get("name"),
                         "sms_consent": form.get("sms_consent") == "on"},
            "shipping_address": address, "lines": lines, "shipping_speed": form.get("speed") or "standard",
            "payment": {"status": "authorized", "reference": f"phone-{external_id}"},
            "quote_id": form.get("quote_id") or None}
    try:
        order = OrderSubmitted.model_validate(body)
    except ValidationError as exc:
        return page("desk_phone.html", 400, agent=agent, f=form, options=None, problem="; ".join(problems(exc)))
    try:
        await gate.publish(PHONE_CHANNEL, f"{PHONE_CHANNEL}:{external_id}", order)
    except Unavailable as exc:
        raise DeskRefused(503, "the OMS cannot take it now: try again in a moment") from exc
    log.info("desk.phone_order", agent=agent.agent, order_id=order_id_for(PHONE_CHANNEL, external_id))
    return RedirectResponse(f"/desk/placed/{quote(order_id_for(PHONE_CHANNEL, external_id))}", 303)


@router.get("/placed/{order_id}")
async def placed(order_id: str, agent: Agent) -> HTMLResponse:
    return page("desk_placed.html", agent=agent, order_id=order_id)


async def _quote(gate: Gate, agent: Session, form: dict[str, str], lines: list[dict[str, Any]]) -> HTMLResponse:
    try:
        request = PromiseRequested.model_validate({
            "id": new_id(), "channel": PHONE_CHANNEL, "lines": [{"sku": x["sku"], "quantity": x["quantity"]}
                                                                 for x in lines],
            "destination": {"country": form.get("country") or "DE", "postal_code": form.get("postal_code") or None},
            "shipping_speed": form.get("speed") or None})
    except ValidationError as exc:
        return page("desk_phone.html", 400, agent=agent, f=form, options=None, problem="; ".join(problems(exc)))
    answer = gate.quotes.expect(request.id)
    try:
        await gate.publish(PHONE_CHANNEL, request.order_key, request)
        quoted = await asyncio.wait_for(answer, gate.quote_timeout_s)
    except (Unavailable, TimeoutError):
        return page("desk_phone.html", 503, agent=agent, f=form, options=None,
                    problem="no answer from the OMS in time: ask again")
    finally:
        gate.quotes.forget(request.id)
    options = [o for o in quoted.get("options", []) if not o.get("pickup_location_id")]
    return page("desk_phone.html", agent=agent, f=form, options=options, problem=quoted.get("reason") or (
        "" if options else "nothing available to ship there now"))


def _when(value: Any) -> str:
    if not value:
        return ""
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return at.strftime("%d %b %H:%M")


def _row(view: dict[str, Any]) -> dict[str, Any]:
    reason = view.get("reason") or {}
    return {"order_id": view["order_id"], "ref": f"{view['channel']}:{view['external_id']}", "status": view["status"],
            "reason": reason.get("message", "") if view["status"] == "on_hold" or "late" in reason.get("code", "")
            else "", "updated": _when(view.get("updated_at"))}


def _order(view: dict[str, Any], gate: Gate) -> dict[str, Any]:
    carriers = {c.id: c.name for c in gate.network.carriers}
    shipments = [{**s, "words": SHIPMENT_WORDS.get(s["status"], s["status"]),
                  "carrier": carriers.get(s.get("carrier_id") or "", s.get("carrier_id") or ""),
                  "contents": ", ".join(f"{x['quantity']} x {x['sku']}" for x in s.get("lines", [])),
                  "promised": _when(s.get("promised_by")), "movable": s["status"] in MOVABLE
                  and not s.get("pickup")} for s in view.get("shipments") or []]
    timeline = [{"when": _when(t["occurred_at"]), "status": t["status"],
                 "changed": t["status"] != t.get("previous_status"), "code": (t.get("reason") or {}).get("code", ""),
                 "message": (t.get("reason") or {}).get("message", "")} for t in view.get("timeline", [])][::-1]
    allocation = [t for t in timeline if t["status"] in ("reserved", "backordered") or t["code"] in (
        "moved", "rerouted", "partially_backordered", "slot_full", "quote_changed", "quote_expired")]
    return {**view, "ref": f"{view['channel']}:{view['external_id']}", "shipments": shipments, "timeline": timeline,
            "allocation": allocation, "late": any("late" in t["code"] for t in timeline[:1]),
            "returns": view.get("returns") or [], "notifications": view.get("notifications", []),
            "others": [_row(o) for o in view.get("others", [])],
            "money": [{**m, "when": _when(m["asked_at"]), "amount": format(m["amount"].normalize(), "f")}
                      for m in view.get("money", [])],
            "money_said": [t for t in timeline if t["code"] in ("refund_refused", "capture_failed")]}
