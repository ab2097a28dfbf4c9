"""Who may open which area, and the sidebar built from it (one place for both)."""

from __future__ import annotations

from dataclasses import dataclass

from weixi.auth.models import ALL_ROLES, Role, User

A, P, BM, AM, AG, AN = (
    Role.admin,
    Role.planner,
    Role.branch_manager,
    Role.account_manager,
    Role.agent,
    Role.analyst,
)

#: Area -> roles allowed. Routes use ``require_role(*ACCESS[area])``.
ACCESS: dict[str, tuple[Role, ...]] = {
    "dashboard": ALL_ROLES,
    "data": (A, P, AN),
    "segments": (P, BM, AN),
    "churn": (P, BM, AN),
    "customers": (P, BM, AM, AN),
    "unmask": (BM, AM, AG),
    "export": (P, BM, AN),
    "admin": (A,),
    "campaigns": (P,),
    "dispatch": (P, BM),
    "queue": (AM, AG),
    "monitoring": (P, BM, AN),
    "outcomes_api": (P, BM, AM, AG),
    "outcome_files": (P, BM),
    "strategy": (P, BM, AN),
    "strategy_edit": (P,),
    "evaluation": (P, BM, AN),
    "book": (P, BM, AM),
    "groups": (P, BM, AM, AN),
    "complaints": (P, BM, AM, AG, AN),
    "complaints_edit": (P, BM, AM, AG),
    "churn_analysis": (P, BM, AN),
    "triggers": (P, BM, AN),
}


@dataclass(frozen=True)
class NavItem:
    """One sidebar entry."""

    area: str
    path: str
    label: str  # English msgid
    icon: str  # a character from the icon set in base.html


NAV: tuple[NavItem, ...] = (
    NavItem("dashboard", "/dashboard", "Dashboard", "◧"),
    NavItem("data", "/data", "Data", "⛁"),
    NavItem("segments", "/segments", "Segments", "▦"),
    NavItem("churn", "/churn", "Churn warning", "◔"),
    NavItem("strategy", "/strategy", "Strategy library", "❖"),
    NavItem("campaigns", "/campaigns", "Campaigns", "✦"),
    NavItem("dispatch", "/dispatch", "Dispatch board", "⇶"),
    NavItem("queue", "/queue", "My work queue", "☎"),
    NavItem("monitoring", "/monitoring", "Monitoring", "◷"),
    NavItem("triggers", "/triggers", "Event triggers", "⚡"),
    NavItem("evaluation", "/evaluation", "Evaluation", "◬"),
    NavItem("outcome_files", "/outcomes/upload", "Outcome files", "⇪"),
    NavItem("book", "/book", "My book", "♛"),
    NavItem("groups", "/groups", "Enterprise groups", "⌂"),
    NavItem("customers", "/customers", "Customer 360", "◉"),
    NavItem("complaints", "/complaints", "Complaints", "✉"),
    NavItem("churn_analysis", "/churn/analysis", "Churn analysis", "◑"),
    NavItem("churn_analysis", "/churn/winback", "Win-back", "↺"),
    NavItem("admin", "/admin/users", "Users", "◎"),
    NavItem("admin", "/admin/audit", "Audit log", "☰"),
)


def allowed(user: User, area: str) -> bool:
    """Return True when ``user`` may open ``area``."""
    return Role(user.role) in ACCESS.get(area, ())


def nav_for(user: User) -> list[NavItem]:
    """The sidebar entries ``user`` may open."""
    return [item for item in NAV if allowed(user, item.area)]
