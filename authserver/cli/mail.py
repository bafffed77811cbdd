"""authserver mail test|queue|retry: check the mail settings and see what waits in the outbox."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from authserver.cli.output import CommandError, add_json, emit
from authserver.domain import OUTBOX_FAILED, OUTBOX_PENDING, OUTBOX_SENT, OutboxMessage

if TYPE_CHECKING:
    from argparse import Namespace

    from authserver.cli.context import Commands, Context
    from authserver.delivery.email import Email, Mailer

_ADDRESS = re.compile(r"^[^@\s<>]{1,64}@[^@\s<>]+\.[^@\s<>]+$")


def register(commands: Commands) -> None:
    parser = commands.add_parser("mail", help="email: send a test message, show the outbox")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    test = sub.add_parser("test", help="send a test message now, with the configured settings")
    test.add_argument("--to", required=True, metavar="ADDRESS", help="the address to send the test message to")
    test.add_argument(
        "--queue", action="store_true", help="queue it instead, for the running servers' delivery loop to send"
    )
    add_json(test)
    test.set_defaults(handler=test_mail)
    queue = sub.add_parser("queue", help="messages waiting to be sent (and failed ones), with why")
    queue.add_argument("--all", action="store_true", help="include messages sent in the last 7 days")
    add_json(queue)
    queue.set_defaults(handler=show_queue)
    retry = sub.add_parser("retry", help="send a failed message again")
    retry.add_argument("id", metavar="ID", help="the message id (see `mail queue`)")
    add_json(retry)
    retry.set_defaults(handler=retry_message)


def _mailer(ctx: Context) -> Mailer:
    from authserver.services import build_mailer

    return build_mailer(ctx.settings)


def test_mail(args: Namespace, ctx: Context) -> int:
    if not _ADDRESS.fullmatch(args.to) or len(args.to) > 320:
        raise CommandError("--to must be an email address")
    mailer = _mailer(ctx)
    if args.queue:
        message = mailer.compose("test", args.to)
        ctx.store.enqueue([message])
        emit(args, {"id": message.id, "to": args.to, "queued": True}, text=f"queued {message.id} for {args.to}")
        return 0
    from authserver.delivery import DeliveryError

    mail: Email = mailer.render("test", args.to)
    try:
        mailer.transport.send(mailer.build(mail))
    except DeliveryError as exc:
        raise CommandError(f"not sent through {mailer.transport.describe()}: {exc}") from None
    where = mailer.transport.describe()
    emit(args, {"to": args.to, "sent": True, "via": where}, text=f"sent a test message to {args.to} via {where}")
    return 0


def _when(ts: int | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat() if ts else None


def describe(message: OutboxMessage, now: int) -> dict[str, Any]:
    if message.status == OUTBOX_PENDING:
        why = "due now" if message.next_attempt_at <= now else "waiting to retry after a failed attempt"
        if message.attempts == 0 and message.next_attempt_at <= now:
            why = "new: the delivery loop of a running server sends it"
    elif message.status == OUTBOX_FAILED:
        why = "given up: the mail server refused it for good (authserver mail retry ID sends it again)"
    else:
        why = "sent"
    return {
        "id": message.id,
        "kind": message.kind,
        "to": message.destination,
        "subject": message.summary,
        "status": message.status,
        "why": why,
        "attempts": message.attempts,
        "last_error": message.last_error,
        "created_at": _when(message.created_at),
        "next_attempt_at": _when(message.next_attempt_at) if message.status == OUTBOX_PENDING else None,
        "sent_at": _when(message.sent_at),
    }


def show_queue(args: Namespace, ctx: Context) -> int:
    statuses = [OUTBOX_PENDING, OUTBOX_FAILED] + ([OUTBOX_SENT] if args.all else [])
    now = int(time.time())  # the outbox's wall clock (outbox.py), not ctx.clock
    rows = [describe(m, now) for m in ctx.store.list_outbox(statuses)]
    if not args.json and not rows:
        print("the outbox is empty")
        return 0
    emit(args, rows)
    return 0


def retry_message(args: Namespace, ctx: Context) -> int:
    if not ctx.store.retry_outbox(args.id[:36], int(time.time())):
        raise CommandError(f"no failed message {args.id!r}")
    emit(args, {"id": args.id, "status": OUTBOX_PENDING}, text=f"{args.id} is queued again")
    return 0
