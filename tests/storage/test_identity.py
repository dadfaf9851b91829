"""Heap's identity cases (seed 002) on every backend, through the storage interface: applied by
collector/identity.py through the backend's primitives, merges resolved when reading."""

import subprocess
import sys
from dataclasses import dataclass, field

import pytest

from collector.storage.base import InvalidOperation, NewEvent, Operation, SetUserProperties, Storage
from tests.live_server import REPO_ROOT
from tests.run_async import run_async
from tests.storage.conftest import stored_events, stored_users, write
from tests.storage.operations import APP, T0, identify, pageview, set_props


@dataclass
class Case:
    """Operations, in order; then who owns which event, each user's identity and merges."""

    steps: list[Operation]
    owners: dict[int, str]  # event n -> canonical user_id
    identities: dict[str, str | None]  # canonical user_id -> identity
    merged: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    refused: int = 0


SEED_CASES = {
    "anonymous to new identity": Case(
        steps=[pageview("11", 1), identify("11", "12345", 2), pageview("11", 3)],
        owners={1: "11", 3: "11"},
        identities={"11": "12345"},
    ),
    "anonymous to existing identity: history merged": Case(
        steps=[
            pageview("11", 1),
            identify("11", "12345", 2),
            pageview("1565941335949135", 3),  # the same person on their phone
            identify("1565941335949135", "12345", 4),
            pageview("1565941335949135", 5),  # later events sent with the old id
        ],
        owners={1: "11", 3: "11", 5: "11"},
        identities={"11": "12345"},
        merged={"11": ["1565941335949135"]},
    ),
    "identified to new identity: a new user from that point": Case(
        steps=[
            pageview("11", 1),
            identify("11", "kate", 2),
            pageview("11", 3),
            identify("22", "jack", 4),  # the tracker minted 22 for Jack
            pageview("22", 5),
        ],
        owners={1: "11", 3: "11", 5: "22"},
        identities={"11": "kate", "22": "jack"},
    ),
    "identified to existing identity: only later data joins": Case(
        steps=[
            identify("11", "kate", 1),
            pageview("11", 2),
            identify("22", "jack", 3),
            pageview("22", 4),  # Kate browsing before logging in: Jack's profile
            pageview("33", 5),  # Kate logs in; the tracker minted 33
            identify("33", "kate", 6),
            pageview("33", 7),
        ],
        owners={2: "11", 4: "22", 5: "11", 7: "11"},
        identities={"11": "kate", "22": "jack"},
        merged={"11": ["33"]},
    ),
    "resetIdentity: a new anonymous user, later identified as someone new": Case(
        steps=[
            identify("11", "kate", 1),
            pageview("11", 2),
            pageview("44", 3),  # after resetIdentity the tracker uses 44
            identify("44", "bob", 4),
        ],
        owners={2: "11", 3: "44"},
        identities={"11": "kate", "44": "bob"},
    ),
    "resetIdentity: the new anonymous user stays anonymous": Case(
        steps=[identify("11", "kate", 1), pageview("44", 2)],
        owners={2: "44"},
        identities={"11": "kate", "44": None},
    ),
    "an identified user cannot be given a second identity": Case(
        steps=[identify("11", "kate", 1), pageview("11", 2), identify("11", "jack", 3)],
        owners={2: "11"},
        identities={"11": "kate"},
        warnings=["identity_conflict"],
        refused=1,
    ),
    "an unknown id identified as an existing identity joins it": Case(
        steps=[identify("11", "kate", 1), identify("55", "kate", 2), pageview("55", 3)],
        owners={3: "11"},
        identities={"11": "kate"},
        merged={"11": ["55"]},
    ),
    "identifying again with the same identity changes nothing": Case(
        steps=[identify("11", "kate", 1), identify("11", "kate", 2), pageview("11", 3)],
        owners={3: "11"},
        identities={"11": "kate"},
    ),
    "refused identities never merge anyone": Case(
        steps=[
            pageview("11", 1),
            identify("11", "undefined", 2),
            pageview("22", 3),
            identify("22", "undefined", 4),
            identify("22", " null ", 5),
            identify("22", "[object Object]", 6),
        ],
        owners={1: "11", 3: "22"},
        identities={"11": None, "22": None},
        warnings=["refused_identity"] * 4,
        refused=4,
    ),
    "identities are case-sensitive": Case(
        steps=[identify("11", "Kate@x.com", 1), identify("22", "kate@x.com", 2)],
        owners={},
        identities={"11": "Kate@x.com", "22": "kate@x.com"},
    ),
    "server events by identity join the web user with that identity": Case(
        steps=[
            pageview("11", 1),
            identify("11", "kate", 2),
            NewEvent(
                event_id=f"{3:032x}",
                type="custom",
                name="Refund",
                time=T0 + 3,
                source="server",
                identity="kate",
            ),
        ],
        owners={1: "11", 3: "11"},
        identities={"11": "kate"},
    ),
}


def run(storage: Storage, *steps: Operation) -> list[str]:
    return write(storage, APP, *steps)


def assert_case_holds(storage: Storage, case: Case, statuses: list[str]) -> None:
    assert statuses.count("refused") == case.refused
    owners = {int(e.event_id, 16): e.user_id for e in stored_events(storage, APP)}
    assert owners == case.owners
    users = {u.user_id: u for u in stored_users(storage, APP)}
    assert {uid: u.identity for uid, u in users.items()} == case.identities
    assert {uid: u.merged_user_ids for uid, u in users.items() if u.merged_user_ids} == case.merged
    assert [warning.kind for warning in run_async(storage.warnings(APP))] == case.warnings


@pytest.mark.parametrize("case", SEED_CASES.values(), ids=SEED_CASES.keys())
def test_seed_cases(storage: Storage, case: Case) -> None:
    statuses = [run(storage, step)[0] for step in case.steps]  # one request per call
    assert_case_holds(storage, case, statuses)


@pytest.mark.parametrize("case", SEED_CASES.values(), ids=SEED_CASES.keys())
def test_the_same_steps_in_one_request_give_the_same_result(storage: Storage, case: Case) -> None:
    # Storage stores the events between two identity steps together: the result must not change.
    assert_case_holds(storage, case, run(storage, *case.steps))


def test_one_request_stores_each_event_id_once_and_widens_each_users_span(
    storage: Storage,
) -> None:
    assert run(storage, pageview("11", 5), pageview("22", 7)) == ["stored", "stored"]
    again = run(
        storage,
        pageview("11", 3),
        pageview("22", 9),
        pageview("11", 5),  # stored by the request before
        pageview("11", 8),
        pageview("11", 3),  # earlier in this request
    )
    assert again == ["stored", "stored", "duplicate", "stored", "duplicate"]
    spans = {u.user_id: (u.first_seen, u.last_seen) for u in stored_users(storage, APP)}
    assert spans == {"11": (T0 + 3, T0 + 8), "22": (T0 + 7, T0 + 9)}
    assert sorted(int(e.event_id, 16) for e in stored_events(storage, APP)) == [3, 5, 7, 8, 9]


def test_a_request_of_many_events_finds_every_stored_id(storage: Storage) -> None:
    # More ids than one look-up binds: the stored ones are found in every chunk of them.
    stored_before = [3, 499, 500, 1001, 1199]
    run(storage, *(pageview("11", n) for n in stored_before))
    statuses = run(storage, *(pageview("11", n) for n in range(1200)))
    assert [n for n, status in enumerate(statuses) if status == "duplicate"] == stored_before
    assert len(stored_events(storage, APP)) == 1200


def test_a_merge_moves_history_properties_and_first_seen(storage: Storage) -> None:
    run(
        storage,
        pageview("11", 50),
        identify("11", "kate", 51),
        set_props("11", 52, plan="Pro", seats=3),
        pageview("22", 10),  # an older visit on another device
        set_props("22", 11, plan="Free", campaign="spring"),
    )
    assert run(storage, identify("22", "kate", 60)) == ["stored"]
    [kate] = stored_users(storage, APP)
    assert kate.user_id == "11"
    assert kate.properties == {"plan": "Pro", "seats": 3, "campaign": "spring"}
    assert (kate.first_seen, kate.last_seen) == (T0 + 10, T0 + 60)
    assert kate.merged_user_ids == ["22"]


def test_a_failed_request_leaves_no_half_merge(storage: Storage) -> None:
    run(storage, identify("11", "kate", 1), pageview("22", 2))
    broken = NewEvent(  # neither user_id nor identity: storage raises mid-request
        event_id=f"{3:032x}", type="custom", name="x", time=T0, source="server"
    )
    with pytest.raises(InvalidOperation, match="names neither a user_id nor an identity"):
        run(storage, identify("22", "kate", 3), broken)
    users = {u.user_id: u for u in stored_users(storage, APP)}
    assert users["22"].identity is None and users["11"].merged_user_ids == []
    assert [e.user_id for e in stored_events(storage, APP)] == ["22"]
    assert run(storage, identify("22", "kate", 3)) == ["stored"]  # the retry is not a duplicate


def test_the_half_merge_guard_holds_under_python_optimized() -> None:
    """`python -O` removes asserts: the guard above (collector/identity.py's, the same for every
    backend) must be a real check, so run it that way, on SQLite."""
    done = subprocess.run(
        [
            sys.executable,
            "-O",
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"{__file__}::test_a_failed_request_leaves_no_half_merge[sqlite]",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_repeated_records_are_applied_once(storage: Storage) -> None:
    assert run(storage, identify("11", "kate", 1), identify("11", "kate", 1)) == [
        "stored",
        "duplicate",
    ]
    assert run(storage, set_props("11", 2, plan="Pro")) == ["stored"]
    assert run(storage, set_props("11", 2, plan="Pro")) == ["duplicate"]


def test_user_properties_for_an_unknown_identity_create_a_user_without_events(
    storage: Storage,
) -> None:
    props = SetUserProperties(record_id=None, properties={"plan": "Pro"}, time=T0, identity="zed")
    run(storage, props)
    [zed] = stored_users(storage, APP)
    assert (zed.identity, zed.properties, zed.first_seen) == ("zed", {"plan": "Pro"}, None)
    run(storage, pageview("77", 5), identify("77", "zed", 6))  # the visitor logs in later
    [zed_after] = stored_users(storage, APP)
    assert zed_after.user_id == zed.user_id and zed_after.merged_user_ids == ["77"]
    assert [e.user_id for e in stored_events(storage, APP)] == [zed.user_id]
