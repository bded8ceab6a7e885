"""Customers: the tracking page each notification links to (its token is the customer's key), and a health check."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from gateway_service.checks import GateOf
from gateway_service.page import tracking_context

router = APIRouter()
_pages = Environment(loader=FileSystemLoader(Path(__file__).parent.parent / "templates"), autoescape=select_autoescape())


@router.get("/track/{token}", response_class=HTMLResponse, tags=["customers"],
            summary="A customer's tracking page (the link in every notification)")
async def track(token: str, gate: GateOf) -> HTMLResponse:
    view = await gate.reads.tracked(token)
    if view is None:
        return HTMLResponse(_pages.get_template("unknown.html").render(), 404)
    return HTMLResponse(_pages.get_template("track.html").render(**tracking_context(view, gate.network)),
                        headers={"Cache-Control": "no-store"})


@router.get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
