"""The admin dashboard: live events, users and their timelines, counts over time, defined events."""

from collector.dashboard.routes import dashboard_mount

__all__ = ["dashboard_mount"]
