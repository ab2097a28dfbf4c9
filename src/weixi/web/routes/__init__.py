"""Page and API routers; each module is thin: deps -> service/read model -> template or JSON."""

from __future__ import annotations

from weixi.web.routes import (
    admin,
    api,
    auth,
    campaigns,
    churn,
    customers,
    dashboard,
    data,
    evaluation,
    jobs,
    segments,
    strategy,
    triggers,
    work,
)

ROUTERS = (
    auth.router,
    dashboard.router,
    data.router,
    segments.router,
    churn.router,
    customers.router,
    campaigns.router,
    strategy.router,
    work.router,
    triggers.router,
    evaluation.router,
    admin.router,
    jobs.router,
    api.router,
    jobs.api_router,
)
