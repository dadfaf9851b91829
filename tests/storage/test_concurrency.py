"""Two collectors (two storages on one data set) seeing the same users at once end with exactly
the merges seed 002 describes: one user per identity, every other id merged into it, no
property lost, no identity given twice."""

import asyncio
from collections.abc import Callable

from collector.storage.base import Operation, Outcome, Storage
from tests.run_async import run_async
from tests.storage.conftest import stored_events, stored_users
from tests.storage.operations import APP, identify, pageview, set_props

DEVICES = 24


async def at_once(writes: list[tuple[Storage, list[Operation]]]) -> list[list[Outcome]]:
    """Every write started together, alternating between the collectors."""
    return list(await asyncio.gather(*(storage.write(APP, ops) for storage, ops in writes)))


def test_many_devices_identified_as_one_person_at_once_merge_into_one_user(
    open_shared: Callable[[], Storage],
) -> None:
    collectors = [open_shared(), open_shared()]
    device_ids = [str(1000 + n) for n in range(DEVICES)]
    for n, user_id in enumerate(device_ids):  # each device's visit before logging in
        run_async(collectors[n % 2].write(APP, [pageview(user_id, n)]))
    writes = [
        (
            collectors[n % 2],
            [
                identify(user_id, "kate", 100 + n),
                set_props(user_id, 200 + n, **{f"seen_on_{n}": n}),
            ],
        )
        for n, user_id in enumerate(device_ids)
    ]
    outcomes = run_async(at_once(writes))
    assert {outcome.status for answer in outcomes for outcome in answer} == {"stored"}
    [kate] = stored_users(collectors[0], APP)
    assert kate.identity == "kate"
    assert sorted([kate.user_id, *kate.merged_user_ids]) == device_ids
    assert kate.properties == {f"seen_on_{n}": n for n in range(DEVICES)}
    assert {event.user_id for event in stored_events(collectors[1], APP)} == {kate.user_id}
    assert stored_users(collectors[1], APP) == [kate]  # both collectors read the same


def test_one_user_identified_as_two_people_at_once_gets_exactly_one_identity(
    open_shared: Callable[[], Storage],
) -> None:
    collectors = [open_shared(), open_shared()]
    pairs = [(str(5000 + n), f"person-{n}") for n in range(DEVICES // 2)]
    writes = []
    for n, (user_id, person) in enumerate(pairs):
        writes.append((collectors[n % 2], [identify(user_id, f"{person}-a", 300 + 2 * n)]))
        writes.append((collectors[1 - n % 2], [identify(user_id, f"{person}-b", 301 + 2 * n)]))
    outcomes = [answer[0].status for answer in run_async(at_once(writes))]
    assert sorted(outcomes) == ["refused"] * len(pairs) + ["stored"] * len(pairs)
    users = {user.user_id: user for user in stored_users(collectors[0], APP)}
    assert sorted(users) == sorted(user_id for user_id, _ in pairs)
    for user_id, person in pairs:
        assert users[user_id].identity in {f"{person}-a", f"{person}-b"}
    warnings = run_async(collectors[1].warnings(APP))
    assert [warning.kind for warning in warnings] == ["identity_conflict"] * len(pairs)


def test_the_same_new_user_id_arriving_at_both_collectors_at_once_is_one_user(
    open_shared: Callable[[], Storage],
) -> None:
    collectors = [open_shared(), open_shared()]
    writes = [(collectors[n % 2], [pageview("777", n)]) for n in range(DEVICES)]
    run_async(at_once(writes))
    [user] = stored_users(collectors[0], APP)
    assert (user.user_id, user.first_seen is not None) == ("777", True)
    assert len(stored_events(collectors[1], APP)) == DEVICES
