"""`canary-console attach`, and opening read-only when another console drives the deployment."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from console.cli import UsageError, default_db
from console.plan import Plan, load_plan

STALE_AFTER = 30.0  # as sessions.control.STALE_AFTER, without importing SQLModel before the first frame


def live_driver(db: Path, plan: Plan, scenario: str) -> tuple[str, str] | None:
    """(session, description) when the deployment's open session has a live driver elsewhere."""
    import os
    import socket

    from sessions.fastread import open_driver

    found = open_driver(db, plan.deployment, scenario)
    if found is None:
        return None
    session, owner, host, pid, heartbeat = found
    if time.time() - heartbeat > STALE_AFTER:
        return None
    if host == socket.gethostname():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
    return session, f"{owner} on {host} (pid {pid})"


def watch(args: argparse.Namespace, plan: Plan, session: str) -> int:
    """Open the screen read-only on a session another console drives."""
    from console.app import CanaryApp
    from console.attached import AttachedSession

    source = AttachedSession(args.db or default_db(), session, plan, readonly=True)
    app = CanaryApp(source, plan, readonly=True)
    app.run(mouse=False)
    source.stop()
    return app.return_code or 0


def attach(args: argparse.Namespace) -> int:
    """`canary-console attach [ID]`: open a live session from any terminal; admins get control back."""
    from console.app import CanaryApp
    from console.attached import AttachedSession
    from sessions.store import EventStore

    db = args.db or default_db()
    store = EventStore(db)
    try:
        info = (
            store.session(store.resolve(args.id)) if args.id else next((s for s in store.sessions() if s.is_open), None)
        )
    finally:
        store.close()
    if info is None:
        raise UsageError("no open session to attach to")
    if not info.is_open:
        raise UsageError(f"session {info.id} is finished ({info.outcome}): use canary-console replay {info.id}")
    plan = load_plan(info.meta.get("plan")) if info.meta.get("plan") else load_plan(None)
    user, roles = ("", []) if args.readonly else _whoami(info.meta)
    readonly = args.readonly or "admin" not in roles
    source = AttachedSession(db, info.id, plan, operator=user, roles=roles, readonly=readonly)
    app = CanaryApp(source, plan, readonly=readonly, idle_lock=args.idle_lock * 60)
    app.run(mouse=False)
    source.stop()
    return app.return_code or 0


def _whoami(meta: dict[str, Any]) -> tuple[str, list[str]]:
    """Who this console's operator is, from the session's ops API (roles never come from here)."""
    import asyncio
    import os

    from console.commands import operator_name

    if meta.get("command") == "run":
        from console.ops import OpsClient, token_from

        token_file = Path(meta["token_file"]) if meta.get("token_file") else None
        client = OpsClient(meta["ops_url"], token_from(os.environ.get("CANARY_OPS_TOKEN"), token_file))

        async def ask() -> Any:
            try:
                return await client.whoami()
            finally:
                await client.aclose()

        who = asyncio.run(ask())
        return operator_name(who.user), list(who.roles)
    from console.sim import SimModel  # the embedded simulator's operator

    who = SimModel(meta.get("scenario") or "healthy").whoami()
    return operator_name(who["user"]), list(who["roles"])
