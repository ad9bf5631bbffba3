"""Command mode (`:`): what each typed command does on the main screen."""

from __future__ import annotations

from typing import Any

from console import events as ev
from console import view


def run_command(screen: Any, verb: str, args: dict[str, Any]) -> None:
    if verb in ("promote", "rollback", "waive") and screen.check_action(verb, ()) is not True:
        if screen.readonly or screen.idle.locked:
            reason = "read-only console" if screen.readonly else "controls are locked (idle): press a key"
        else:
            reason = "; ".join(view.controls(screen.state, False).blockers) or "needs the admin role"
        screen.notify(f"{verb}: not allowed now: {reason}", severity="error")
        if verb == "promote" and not screen.readonly and not screen.idle.locked:  # audited: the conductor refuses
            intent = ev.PromoteRequested(at=screen.session.now(), operator=screen.operator(), weight=args.get("weight"))
            screen.session.submit(intent)
        elif verb == "rollback" and screen.role_denied():
            screen.send_refused("rollback")
        return
    match verb:
        case "promote":
            if args.get("weight") not in (None, screen.state.next_weight):
                screen.notify(f"promote: the next stage is {screen.state.next_weight}%", severity="error")
                return
            screen.action_promote()
        case "rollback":
            screen.action_rollback(args.get("reason") or "MANUAL", args.get("detail") or "")
        case "attest":
            _with_item(screen, args["item"], lambda i: screen.attest(i, args.get("note") or ""))
        case "waive":
            _with_item(screen, args["item"], lambda i: screen.waive(i, args["reason"]))
        case "quit":
            screen.action_quit()
        case "help":
            screen.action_help()
        case _:
            screen.notify(f"{verb}: only in replay", severity="warning")


def _with_item(screen: Any, item_id: str, then: Any) -> None:
    if item_id not in screen.state.items:
        screen.notify(f"no checklist item {item_id!r}", severity="error")
        return
    then(item_id)
