"""VIP programme and enterprise groups: tiers, points, care calendar, group KPIs and alerts, books."""
