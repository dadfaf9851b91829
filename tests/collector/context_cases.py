"""The visitor the context tests share: an iPhone's Safari seen from an address in London, and
the request context the collector makes of the two (collector/context.py) without --store-ip."""

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
LONDON = "81.2.69.142"  # where the bundled DB-IP Lite database places it
IPHONE_IN_LONDON = {
    "browser": "Mobile Safari",
    "browser_version": "17.5",
    "os": "iOS",
    "os_version": "17.5",
    "device_type": "Mobile",
    "country": "GB",
    "region": "England",
    "city": "London",
    "ip": None,
}
