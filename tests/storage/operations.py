"""Operations as the collector writes them, for the storage contract suite and its neighbours."""

from collector.storage.base import Identify, NewEvent, SetUserProperties

APP = "42"
T0 = 1_700_000_000_000


def pageview(user_id: str, n: int, **fields: object) -> NewEvent:
    return NewEvent(
        event_id=f"{n:032x}",
        type="pageview",
        name="pageview",
        time=T0 + n,
        source="web",
        user_id=user_id,
        session_id="1",
        pageview_id="1",
        **fields,  # type: ignore[arg-type]
    )


def identify(user_id: str, identity: str, n: int) -> Identify:
    return Identify(record_id=f"1{n:031x}", user_id=user_id, identity=identity, time=T0 + n)


def set_props(user_id: str, n: int, **properties: str | int | float | bool) -> SetUserProperties:
    return SetUserProperties(
        record_id=f"2{n:031x}", properties=properties, time=T0 + n, user_id=user_id
    )
