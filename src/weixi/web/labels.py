"""Display labels of stored keys (channels, outcomes, actions, refusal reasons) in a locale."""

from __future__ import annotations

from functools import lru_cache

from weixi.i18n import t

#: English msgids of keys the database stores; zh-CN comes from the web catalog.
LABELS = {
    "account_manager": "Account manager",
    "call_center": "Call center",
    "store": "Store",
    "sms": "SMS",
    "app": "App",
    "not_reached": "Not reached",
    "accepted": "Accepted",
    "refused": "Refused",
    "call_back": "Call back",
    "already_churned": "Already churned",
    "price": "Price too high",
    "happy_with_current_plan": "Happy with current plan",
    "switching_to_competitor": "Switching to a competitor",
    "network_quality": "Network quality",
    "no_need": "No need",
    "other": "Other",
    "draft": "Draft",
    "approved": "Approved",
    "active": "Active",
    "closed": "Closed",
    "cancelled": "Cancelled by the planner",
    "superseded": "Superseded by a re-plan",
    "pending": "Dispatching",
    "open": "Open",
    "done": "Done",
    "dropped": "Dropped",
    "group_retention": "Group retention",  # the group task's action (weixi.vip.campaign)
    # complaints (categories: weixi.complaints.models.CATEGORY_LABELS, "price" differs)
    "received": "Received",
    "classified": "Classified",
    "investigated": "Investigated",
    "handled": "Handled",
    "answered": "Answered",
    "archived": "Archived",
    "escalated": "Escalated",
    "web": "Web",
    "api": "API",
    "file": "File",
}


@lru_cache(maxsize=1)
def _action_names() -> dict[str, tuple[str, str]]:
    try:
        from weixi.strategy.library import load_library

        return {a.key: (a.name.en, a.name.zh) for a in load_library().actions}
    except Exception:  # no library configured yet: fall back to the keys
        return {}


def label(key: object, locale: str) -> str:
    """The label of a stored key in ``locale`` (the key itself when unknown)."""
    if key is None:
        return "–"
    k = str(key)
    if k in _action_names():
        en, zh = _action_names()[k]
        return zh if locale == "zh-CN" else en
    return t(LABELS[k], locale) if k in LABELS else t(k, locale)
