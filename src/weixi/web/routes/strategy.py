"""Strategy library and offer catalog: categories, actions, three-level catalog; planners edit
an offer's cost, validity, channels and script (saved to ``$WEIXI_HOME/strategy.yaml``)."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Annotated

import yaml
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from weixi.auth.models import User
from weixi.config import Settings
from weixi.errors import ConfigError, NotFoundError
from weixi.strategy.library import dump_library, load_library, parse_library
from weixi.strategy.schemas import CHANNELS, StrategyLibrary
from weixi.web.deps import get_settings_dep, render, request_locale, require_role
from weixi.web.nav import ACCESS

router = APIRouter(include_in_schema=False)


def library_path(settings: Settings) -> Path:
    """Where the operator's edited library lives."""
    return settings.home / "strategy.yaml"


def current_library(settings: Settings) -> StrategyLibrary:
    """The operator's library if saved, else the seed preset (parsed once per file version:
    the work queue asks for it on every request)."""
    path = library_path(settings)
    try:
        st = path.stat()
    except FileNotFoundError:
        return _load_library("seed", 0, 0)
    return _load_library(str(path), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=8)
def _load_library(source: str, _mtime_ns: int, _size: int) -> StrategyLibrary:
    return load_library(Path(source) if source != "seed" else "seed")


@router.get("/strategy", response_class=HTMLResponse)
def strategy_page(
    request: Request,
    settings: Annotated[Settings, Depends(get_settings_dep)],
    user: Annotated[User, Depends(require_role(*ACCESS["strategy"]))],
    ok: str | None = None,
) -> HTMLResponse:
    lib = current_library(settings)
    return render(
        request,
        "strategy.html",
        {
            "page_title": "Strategy library",
            "lib": lib,
            "loc": request_locale(request, user),
            "can_edit": user.role in {r.value for r in ACCESS["strategy_edit"]},
            "channels": CHANNELS,
            "saved": ok,
            "source": library_path(settings) if library_path(settings).exists() else None,
        },
        user=user,
    )


@router.post("/strategy/offers/{offer_key}")
def edit_offer(
    offer_key: str,
    settings: Annotated[Settings, Depends(get_settings_dep)],
    user: Annotated[User, Depends(require_role(*ACCESS["strategy_edit"]))],
    unit_cost: Annotated[float, Form()],
    valid_from: Annotated[dt.date, Form()],
    valid_to: Annotated[dt.date, Form()],
    script_en: Annotated[str, Form()],
    script_zh: Annotated[str, Form()],
    channels: Annotated[list[str], Form()],
) -> Response:
    """Change one offer and save the validated library."""
    lib = current_library(settings)
    data = lib.model_dump(mode="json", by_alias=True, exclude_none=True)
    found = False
    for entry in data["catalog"]:
        for product in entry["products"]:
            for offer in product["offers"]:
                if offer["key"] == offer_key:
                    offer.update(
                        unit_cost=unit_cost,
                        valid_from=valid_from.isoformat(),
                        valid_to=valid_to.isoformat(),
                        script={"en": script_en.strip(), "zh": script_zh.strip()},
                        channels=channels,
                    )
                    found = True
    if not found:
        raise NotFoundError("offer {offer} not found", offer=offer_key)
    try:
        new = parse_library(data, f"offer {offer_key}")
    except ValueError as exc:
        raise ConfigError("{error}", error=exc) from exc
    path = library_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump_library(new), encoding="utf-8")
    yaml.safe_load(path.read_text(encoding="utf-8"))  # what we wrote reads back
    return RedirectResponse(f"/strategy?ok={offer_key}#offer-{offer_key}", status_code=303)
