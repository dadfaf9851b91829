"""Ops from Python to the loader (docs/protocol.md, section 2): one constructor each, so every
op has one shape. An op is a JSON-safe dict whose `op` names it."""

Op = dict[str, object]


def set_cookies(assignments: list[str]) -> Op:
    """Assign each full `document.cookie` string, in order."""
    return {"op": "set_cookies", "cookies": assignments}


def probe_cookie_domain(candidates: list[str], name: str, attributes: str) -> Op:
    """Find the highest of `candidates` that takes a cookie (set, read back and delete the probe
    cookie `name`); the loader answers with a `cookie_domain` record."""
    return {
        "op": "probe_cookie_domain",
        "candidates": candidates,
        "name": name,
        "attributes": attributes,
    }


def state(*, user_id: str, identity: str | None, session_id: str | None, opted_out: bool) -> Op:
    """Who the visitor is now: the loader sets `heap.userId` and `heap.identity`."""
    return {
        "op": "state",
        "user_id": user_id,
        "identity": identity,
        "session_id": session_id,
        "opted_out": opted_out,
    }


def beacon(url: str, chunks: list[str], chunk_ids: list[list[str]]) -> Op:
    """What to send with `navigator.sendBeacon` when the page hides: whole ingest bodies, each
    under 64 KB, and the event ids of each (`[]`: nothing)."""
    return {"op": "beacon", "url": url, "chunks": chunks, "chunk_ids": chunk_ids}


def warn(message: str) -> Op:
    """A console warning (the loader prefixes "[footfall] ")."""
    return {"op": "warn", "message": message}


def ready() -> Op:
    """Python handled the boot records: `heap.ready` and the `heap.onReady` callbacks."""
    return {"op": "ready"}


def storage(may_store: bool) -> Op:
    """Whether the page may keep things of ours beyond cookies (worker.mjs acts on it)."""
    return {"op": "storage", "may_store": may_store}


def handled(seq: int) -> Op:
    """Every record of the loader's message `seq` is handled: the loader forgets them."""
    return {"op": "handled", "seq": seq}


def bridge_reply(origin: str, user_id: str) -> Op:
    """Answer a bridge getUserId: the loader posts the user id to the embedding page, to
    `origin` only (docs/protocol.md, section 8)."""
    return {"op": "bridge_reply", "origin": origin, "user_id": user_id}
