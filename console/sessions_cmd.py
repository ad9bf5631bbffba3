"""`canary-console sessions`: past and open sessions, with who drives the live ones."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from console.cli import UsageError
from console.commands import open_store


def list_sessions(args: argparse.Namespace) -> int:
    from console.replay import filter_sessions, since_time

    if args.action == "prune":
        return prune_sessions(args)
    if args.older_than is not None or args.dry_run:
        raise UsageError("--older-than and --dry-run go with: canary-console sessions prune")
    since = since_time(args.since)
    store = open_store(args)
    try:
        from sessions.control import Control
        from sessions.review import stored_reasons

        rows = filter_sessions(store.sessions(), args.outcome, since)
        drivers = Control(store).drivers()
        reviews = {s.id: stored_reasons(store.events(s.id)) for s in rows}
    finally:
        store.close()
    if args.json:
        print(json.dumps([_session_dict(s, drivers.get(s.id), reviews[s.id]) for s in rows], indent=2))
        return 0
    if args.tui:
        return _pick_and_replay(args, rows, {s.id: guard_status(s, drivers.get(s.id)) for s in rows}, reviews)
    if not rows:
        print("no sessions")
        return 0
    head = f"{'ID':<21} {'DEPLOYMENT / SCENARIO':<34} {'OUTCOME':<12} {'MAX':>4}  {'STARTED':<20} {'ENDED':<20}"
    print(f"{head} {'REVIEW':<6} GUARD")
    for s in rows:
        what = f"{s.deployment} / {s.scenario}" if s.scenario else s.deployment
        print(
            f"{s.id:<21} {what:<34} {s.outcome or 'open':<12} {s.highest_weight:>3}%  {s.started[:19]:<20} "
            f"{(s.ended or '-')[:19]:<20} {'yes' if reviews[s.id] else 'no':<6} {guard_text(s, drivers.get(s.id))}"
        )
    return 0


def prune_sessions(args: argparse.Namespace) -> int:
    """Delete finished sessions that ended before --older-than; print each one (or what would go)."""
    from sessions.retention import parse_age, prune

    if args.older_than is None:
        raise UsageError("sessions prune needs --older-than AGE (e.g. 90d, 12h, 30m)")
    if args.json or args.outcome or args.since:
        raise UsageError("--json, --outcome and --since list sessions; sessions prune takes --older-than and --dry-run")
    try:
        age = parse_age(args.older_than)
    except ValueError as exc:
        raise UsageError(f"--older-than: {exc}") from None
    store = open_store(args)
    try:
        gone = prune(store, age, dry_run=args.dry_run)
    finally:
        store.close()
    verb = "would prune" if args.dry_run else "pruned"
    for p in gone:
        print(f"{verb} {p.id} {p.deployment} {p.outcome} ended {p.ended[:19]} (head seq {p.head_seq} kept)")
    if not gone:
        print(f"no finished session ended more than {args.older_than} ago")
    return 0


def _pick_and_replay(args: argparse.Namespace, rows: list[Any], guards: dict[str, str], reviews: dict) -> int:
    from console.replay import replay
    from console.sessions_screen import SessionsApp

    chosen = SessionsApp(rows, guards, reviews).run(mouse=False)
    if not chosen:
        return 0
    return replay(argparse.Namespace(db=args.db, id=chosen, plan=None, speed=60.0))


def guard_status(s: Any, driver: Any) -> str:
    """live (a driver heartbeats), gone (its process died), stale (silent), none (no driver), or '' when finished."""
    if not s.is_open:
        return ""
    if driver is None:
        return "none"
    if driver.gone():
        return "gone"
    return "stale" if driver.stale() else "live"


def guard_text(s: Any, driver: Any) -> str:
    status = guard_status(s, driver)
    if status in ("", "none"):
        return status or "-"
    return f"{status}: {driver.describe(time.time())}"


def _session_dict(s: Any, driver: Any = None, review: list[str] | None = None) -> dict[str, Any]:
    return {
        "id": s.id,
        "deployment": s.deployment,
        "scenario": s.scenario,
        "plan": s.plan,
        "operator": s.operator,
        "outcome": s.outcome or "open",
        "highest_weight": s.highest_weight,
        "started": s.started,
        "ended": s.ended,
        "guard": guard_status(s, driver),
        "driver": None if driver is None else {"owner": driver.owner, "host": driver.host, "pid": driver.pid},
        "review_required": bool(review),
        "review_reasons": review or [],
    }
