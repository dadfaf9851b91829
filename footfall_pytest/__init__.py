"""Footfall's pytest plugin: browser tests assert what a page sends to analytics.

Registered by the `footfall` distribution's `pytest11` entry point (`footfall_pytest.plugin`);
its fixtures are `analytics` (per test; an `Analytics`) and `footfall_collector` (per session,
or per xdist worker; a `FootfallCollector`).
"""

from footfall_pytest.analytics import Analytics, FootfallCollector

__all__ = ["Analytics", "FootfallCollector"]
