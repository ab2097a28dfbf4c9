"""Page and API routers; each module is thin: deps -> service/read model -> template or JSON."""

from __future__ import annotations

from weixi.web.routes import (
    admin,
    api,
    auth,
    campaigns,
    churn,
    churn_analysis,
    complaints,
    customers,
    dashboard,
    data,
    evaluation,
    jobs,
    segments,
    strategy,
    triggers,
    vip,
    winback,
    work,
)

ROUTERS = (
    auth.router,
    dashboard.router,
    data.router,
    segments.router,
    churn_analysis.router,
    winback.router,
    churn.router,
    customers.router,
    complaints.router,
    campaigns.router,
    strategy.router,
    work.router,
    vip.router,
    triggers.router,
    evaluation.router,
    admin.router,
    jobs.router,
    api.router,
    jobs.api_router,
    complaints.api_router,
)
