"""Recognising crawlers and monitors by their User-Agent, so their hits are answered and dropped."""

import re

# Self-declared crawlers, link previewers, uptime monitors and HTTP libraries. Headless Chrome is
# not listed: people test their own sites with it, and those tests are what Footfall serves.
_BOT_USER_AGENT = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|archiver|facebookexternalhit|embedly|preview|"
    r"pingdom|uptimerobot|statuscake|site24x7|lighthouse|pagespeed|gtmetrix|"
    r"^curl/|^wget/|python-requests|python-urllib|go-http-client|okhttp|^java/|libwww|httpclient",
    re.IGNORECASE,
)


def is_bot(user_agent: str) -> bool:
    """Whether the User-Agent says the client is a bot rather than a visitor's browser."""
    return bool(_BOT_USER_AGENT.search(user_agent))
