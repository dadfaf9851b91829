"""`footfall`: serve the collector, create apps, and export events and users as JSON lines."""

import argparse
import json
import os
import secrets
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

from collector.context import DEFAULT_GEO_DB
from collector.export import exported_event, exported_user, write_json_lines
from collector.run_sync import run_sync
from collector.settings import Settings
from collector.storage import open_storage
from collector.storage.base import Storage, StorageError
from snippet.bridge import normalized_origin

DEFAULT_DB = Settings.db
T = TypeVar("T")
# The status of a command whose reader went away (128 + SIGPIPE), as the shell reports `yes | head`.
EXIT_READER_GONE = 141


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the exit status."""
    args = _parser().parse_args(argv)
    try:
        result: int = args.run(args)
        sys.stdout.flush()  # a reader gone before the last line must be caught here, too
    except BrokenPipeError:
        return _reader_gone()
    except ValueError as error:
        print(f"footfall: {error}", file=sys.stderr)
        return 2
    except StorageError as error:
        print(f"footfall: storage {_db(args)}: {error}", file=sys.stderr)
        return 1
    return result


def serve(args: argparse.Namespace) -> int:
    """Run the collector until interrupted."""
    from collector.server import run_server

    settings = Settings(
        db=_db(args),
        state=_state(args),
        host=args.host,
        port=args.port,
        bundle_dir=args.bundle_dir,
        site_dir=args.site_dir,
        demo=args.demo,
        drop_bots=not args.keep_bots,
        admin_password=_admin_password(args.admin_password),
        trusted_proxies=_trusted_proxies(args.trusted_proxy),
        request_log=args.request_log,
        geo_db=args.geo_db,
        store_ip=args.store_ip,
    )
    run_server(settings)
    return 0


def apps_create(args: argparse.Namespace) -> int:
    """Create an app and print its id, API key and project."""
    app = _with_storage(
        args, lambda storage: storage.create_app(args.name, args.app_id, args.project), True
    )
    print(json.dumps({"app_id": app.app_id, "api_key": app.api_key, "project_id": app.project_id}))
    return 0


def apps_update(args: argparse.Namespace) -> int:
    """Change which origins may use an app's postMessage bridge; print the app's list."""
    allow, disallow = _origins(args.allow_origin), _origins(args.disallow_origin)
    origins = _with_storage(
        args, lambda storage: storage.change_bridge_origins(args.app_id, allow, disallow)
    )
    print(json.dumps({"app_id": args.app_id, "bridge_origins": origins}))
    return 0


def _origins(given: list[str]) -> list[str]:
    """Origins as browsers write them; ValueError for one that is not an origin."""
    origins = []
    for text in given:
        origin = normalized_origin(text)
        if origin is None:
            raise ValueError(
                f"{text!r} is not an origin: give scheme://host[:port], no path or '*'"
            )
        origins.append(origin)
    return origins


def export_events(args: argparse.Namespace) -> int:
    """Print every event (of one app) as a JSON line, ordered by time."""
    _with_storage(
        args, lambda storage: _print_lines(map_async(exported_event, storage.events(args.app)))
    )
    return 0


def export_users(args: argparse.Namespace) -> int:
    """Print every canonical user (of one app) as a JSON line."""
    _with_storage(
        args, lambda storage: _print_lines(map_async(exported_user, storage.users(args.app)))
    )
    return 0


def _admin_password(given: str | None) -> str:
    """--admin-password, else FOOTFALL_ADMIN_PASSWORD, else a new one printed for the operator."""
    password = given or os.environ.get("FOOTFALL_ADMIN_PASSWORD")
    if not password:
        password = secrets.token_urlsafe(12)
        print(f"footfall dashboard: /dashboard/ admin password (generated): {password}", flush=True)
    return password


def _trusted_proxies(given: list[str] | None) -> tuple[str, ...]:
    """--trusted-proxy (repeatable), else FOOTFALL_TRUSTED_PROXY (comma-separated addresses)."""
    listed = given or os.environ.get("FOOTFALL_TRUSTED_PROXY", "").split(",")
    return tuple(address.strip() for address in listed if address.strip())


def _reader_gone() -> int:
    """Stop quietly when stdout's reader (say `head -1`) has closed the pipe."""
    # Python flushes stdout once more at exit; pointing it at /dev/null keeps that flush quiet.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_READER_GONE


def _db(args: argparse.Namespace) -> str:
    """--db, else FOOTFALL_DB, else footfall.sqlite3 in the current folder."""
    return str(args.db or os.environ.get("FOOTFALL_DB") or DEFAULT_DB)


def _state(args: argparse.Namespace) -> str | None:
    """--state, else FOOTFALL_STATE (only with --db clickhouse://...)."""
    return args.state or os.environ.get("FOOTFALL_STATE") or None


def _with_storage(
    args: argparse.Namespace, work: Callable[[Storage], Awaitable[T]], create: bool = False
) -> T:
    """`work` on the storage the options name; unless `create`, a SQLite file must exist."""
    db = _db(args)
    if not create and "://" not in db and not Path(db).exists():
        raise ValueError(f"no database at {db}")

    async def run() -> T:
        storage = open_storage(db, _state(args))
        try:
            return await work(storage)
        finally:
            await storage.close()

    return run_sync(run())


async def map_async(
    convert: Callable[[T], dict[str, object]], rows: AsyncIterator[T]
) -> AsyncIterator[dict[str, object]]:
    """`convert` of each row, as rows arrive."""
    async for row in rows:
        yield convert(row)


async def _print_lines(rows: AsyncIterator[dict[str, object]]) -> None:
    """Rows as JSON lines on stdout, each written as it comes."""
    async for row in rows:
        write_json_lines([row], sys.stdout)


def _add_storage_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--db",
        help="a SQLite file (made when missing by serve and apps create), or"
        " clickhouse://HOST:PORT/DB for events with --state (else $FOOTFALL_DB,"
        f" else {DEFAULT_DB})",
    )
    command.add_argument(
        "--state",
        help="with --db clickhouse://...: postgresql://USER@HOST:PORT/DB for apps, users and"
        " identities (else $FOOTFALL_STATE)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="footfall", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve_cmd = commands.add_parser("serve", help="run the collector")
    serve_cmd.add_argument("--host", default="127.0.0.1")
    serve_cmd.add_argument("--port", type=int, default=8000)
    _add_storage_options(serve_cmd)
    serve_cmd.add_argument("--bundle-dir", type=Path, default=Path("build/tracker"))
    serve_cmd.add_argument("--site-dir", type=Path, default=Path("site"))
    serve_cmd.add_argument("--demo", action="store_true", help='ensure the app "demo" exists')
    serve_cmd.add_argument(
        "--keep-bots", action="store_true", help="store hits from bot User-Agents too"
    )
    serve_cmd.add_argument(
        "--admin-password", help="dashboard login (else $FOOTFALL_ADMIN_PASSWORD, else generated)"
    )
    serve_cmd.add_argument(
        "--trusted-proxy",
        action="append",
        metavar="ADDRESS",
        help="an HTTPS proxy whose X-Forwarded-Proto/-For are believed"
        " (else $FOOTFALL_TRUSTED_PROXY, comma-separated)",
    )
    serve_cmd.add_argument(
        "--request-log",
        type=Path,
        help="append every request (method, path, query, body) to this file as JSON lines,"
        " for tests that check what reached the collector",
    )
    serve_cmd.add_argument(
        "--geo-db",
        type=Path,
        metavar="PATH",
        help="city database in MaxMind's format (.mmdb, or a folder of them) for events' country,"
        f" region and city (default: {DEFAULT_GEO_DB}, installed by ./dev.sh)",
    )
    serve_cmd.add_argument(
        "--store-ip",
        action="store_true",
        help="keep each event's client address in its context (default: only the place)",
    )
    serve_cmd.set_defaults(run=serve)

    apps_cmd = commands.add_parser("apps", help="manage apps").add_subparsers(
        required=True, metavar="ACTION"
    )
    create_cmd = apps_cmd.add_parser("create", help="create an app; prints its id and API key")
    create_cmd.add_argument("--name", required=True)
    create_cmd.add_argument("--app-id")
    create_cmd.add_argument(
        "--project",
        metavar="APP_ID",
        help="make the app an environment of this app's project (whose main environment, its"
        " first app, authorises deletions, which cover every environment)",
    )
    _add_storage_options(create_cmd)
    create_cmd.set_defaults(run=apps_create)
    update_cmd = apps_cmd.add_parser("update", help="change an app's bridge origins; prints them")
    update_cmd.add_argument("app_id", metavar="APP_ID")
    update_cmd.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="let pages of ORIGIN (https://host[:port]) identify visitors and send events into"
        " the app embedded in them (repeatable)",
    )
    update_cmd.add_argument(
        "--disallow-origin", action="append", default=[], metavar="ORIGIN", help="undo one"
    )
    _add_storage_options(update_cmd)
    update_cmd.set_defaults(run=apps_update)

    for name, run, what in (
        ("events", export_events, "events"),
        ("users", export_users, "canonical users"),
    ):
        export_cmd = commands.add_parser(name, help=f"print {what} as JSON lines")
        _add_storage_options(export_cmd)
        export_cmd.add_argument("--app", help="only this app_id")
        export_cmd.set_defaults(run=run)
    return parser


if __name__ == "__main__":
    sys.exit(main())
