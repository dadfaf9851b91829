"""heap.load presets: named sets of options for platforms that load the tracker for you."""

# Airkit loads Heap with secureCookie on and the page's text redacted (seed 001); an Airkit app
# usually runs in another company's page, where only `Secure; SameSite=None` cookies (plus
# `Partitioned`, which cookie_attributes adds inside an iframe) are kept.
PRESETS: dict[str, dict[str, object]] = {
    "airkit": {"secureCookie": True, "disableTextCapture": True},
}


def apply_preset(config: dict[str, object]) -> tuple[dict[str, object], str | None]:
    """heap.load's config with its `preset` expanded: the preset's options first, the options
    given beside it on top. An unknown preset is one problem and no preset."""
    name = config.get("preset")
    options = {key: value for key, value in config.items() if key != "preset"}
    if name is None:
        return options, None
    preset = PRESETS.get(name) if isinstance(name, str) else None
    if preset is None:
        known = ", ".join(repr(known) for known in sorted(PRESETS))
        problem = f"config.preset {name!r} is not a preset this tracker knows ({known})"
        return options, f"{problem}; no preset applied"
    return {**preset, **options}, None
