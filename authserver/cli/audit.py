"""authserver audit list: read the audit trail (security events), oldest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from authserver.cli.output import CommandError, add_json, emit

if TYPE_CHECKING:
    from argparse import Namespace

    from authserver.cli.context import Commands, Context


def register(commands: Commands) -> None:
    parser = commands.add_parser("audit", help="read security events")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = sub.add_parser("list", help="list audit events")
    listing.add_argument("--user", metavar="USER", help="only this user (id, username or email)")
    listing.add_argument(
        "--since", metavar="TIME", help="ISO 8601 time (2026-11-21T08:00:00Z) or a duration: 15m, 24h, 7d"
    )
    listing.add_argument("--limit", type=int, default=1000, metavar="N", help="at most N events, oldest first")
    add_json(listing)
    listing.set_defaults(handler=list_events)


def parse_since(value: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if value[-1:] in units and value[:-1].isascii() and value[:-1].isdigit():
        # Audit events carry wall-clock times (audit.py): the window is measured on the same clock.
        return int((datetime.now(UTC) - timedelta(seconds=int(value[:-1]) * units[value[-1]])).timestamp())
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(f"--since must be an ISO 8601 time or a duration like 24h: {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def list_events(args: Namespace, ctx: Context) -> int:
    if not 1 <= args.limit <= 100_000:
        raise CommandError("--limit must be between 1 and 100000")
    user_id = None
    if args.user:
        user = ctx.store.get_user(args.user) or ctx.store.find_user(args.user)
        if user is None:
            raise CommandError(f"no user {args.user!r}")
        user_id = user.id
    since = parse_since(args.since) if args.since else None
    rows: list[dict[str, Any]] = [
        {
            "id": e.id,
            "time": datetime.fromtimestamp(e.ts, UTC).isoformat(),
            "event": e.event,
            "user_id": e.user_id,
            "client_id": e.client_id,
            "ip": e.ip,
            "user_agent": e.user_agent,
            **({"data": e.data} if e.data else {}),
        }
        for e in ctx.store.list_audit_events(user_id=user_id, since=since, limit=args.limit)
    ]
    if args.json:
        emit(args, rows)
    elif not rows:
        print("no events")
    else:
        for r in rows:
            extra = " ".join(f"{k}={v}" for k, v in (r.get("data") or {}).items())
            print(
                f"{r['time']}  {r['event']:<28} user={r['user_id'] or '-'} client={r['client_id'] or '-'} "
                f"ip={r['ip'] or '-'} {extra}".rstrip()
            )
    return 0
