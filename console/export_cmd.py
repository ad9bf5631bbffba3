"""`canary-console export ID [--format md|json] [--plan FILE] [--output FILE]`: the post-deployment record."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from console.cli import UsageError
from console.plan import Plan, load_plan


def session_plan(name: str, path: Path | None) -> Plan:
    """The plan a session ran: the default plan, or the file given with --plan (names must match)."""
    plan = load_plan(path)
    if plan.name != name:
        if path is None:
            raise UsageError(f"the session ran plan {name!r}, not the default plan: give its file with --plan FILE")
        raise UsageError(f"{path} is plan {plan.name!r} but the session ran plan {name!r}")
    return plan


def command(args: argparse.Namespace) -> int:
    from console.commands import open_store
    from sessions.export import build
    from sessions.export_render import markdown, to_json

    store = open_store(args)
    try:
        session = store.resolve(args.id)
        info = store.session(session)
        events = store.events(session)
    finally:
        store.close()
    report = build(info, events, session_plan(info.plan, args.plan))
    text = to_json(report) if args.format == "json" else markdown(report)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:  # the record names operators and hosts: private like the store
        fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "w", encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:
        raise UsageError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    return 0
