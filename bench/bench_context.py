"""CPU the collector spends on context (collector/context.py): per request (User-Agent parse,
cached per User-Agent, and the geo look-up) and per event (checking the page's context and adding
the request's), against a record without context. Prints figures, asserts nothing.

    python bench/bench_context.py [--events 2000] [--rounds 20]
"""

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collector.context import (  # noqa: E402
    DEFAULT_GEO_DB,
    NO_REQUEST_CONTEXT,
    GeoDatabase,
    RequestContexts,
    user_agent_context,
)
from collector.ingest import record_operation  # noqa: E402
from tests.collector.wire import event  # noqa: E402

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
LONDON = "81.2.69.142"


def cpu_us(work: Callable[[], object], times: int) -> float:
    """Process CPU time of one call of `work`, in microseconds (the mean of `times`)."""
    start = time.process_time()
    for _ in range(times):
        work()
    return (time.process_time() - start) / times * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    geo = GeoDatabase(DEFAULT_GEO_DB)
    contexts = RequestContexts(geo, store_ip=False)

    fresh = iter(range(10**9))

    def first_parse() -> object:  # a User-Agent neither our cache nor ua-parser's has seen
        return user_agent_context(f"{IPHONE} Footfall/{next(fresh)}")

    request_context = contexts.of(IPHONE, LONDON)
    with_context = [event("11", "click") for _ in range(args.events)]
    without = [{k: v for k, v in r.items() if k != "context"} for r in with_context]

    def check(records: list[dict], context: dict) -> None:
        for record in records:
            record_operation(record, context)

    per_event = args.events
    print(f"User-Agent parse, first time a User-Agent is seen: {cpu_us(first_parse, 200):.0f} us")
    print(f"request context (User-Agent seen before, geo look-up): "
          f"{cpu_us(lambda: contexts.of(IPHONE, LONDON), 20_000):.1f} us")  # fmt: skip
    print(f"  of which the geo look-up: {cpu_us(lambda: geo.locate(LONDON), 20_000):.1f} us")
    for name, records, context in (
        ("an event with the page's and the request's context", with_context, request_context),
        ("an event record without context", without, NO_REQUEST_CONTEXT),
    ):
        cost = cpu_us(lambda r=records, c=context: check(r, c), args.rounds) / per_event
        print(f"checking {name}: {cost:.2f} us")
    geo.close()


if __name__ == "__main__":
    main()
