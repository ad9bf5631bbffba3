"""What the operator's keys do on the main screen: promote, roll back, attest, waive.

Each becomes an intent the session's runner logs and decides on; the modals ask first.
"""

from __future__ import annotations

from typing import Any

from console import events as ev
from console.engine import is_admin
from widgets.checklist import ChecklistTable
from widgets.confirm import ConfirmModal
from widgets.note import NoteModal
from widgets.rollback import RollbackModal


class OperatorActions:
    """A mixin for MainScreen (it needs .session, .state, .readonly, .app and .notify)."""

    def role_denied(self) -> bool:
        """This console's operator lacks the admin role (whoami): controls are greyed, presses audited."""
        roles = getattr(self.session, "roles", None) or self.state.roles
        return not self.readonly and bool(self.state.session) and not is_admin(roles)

    def refused_key(self, event: Any) -> None:
        """A greyed P or R from an operator without the role still reaches the conductor, to be refused and logged."""
        if not self.role_denied() or self.app.screen is not self:
            return
        action = next(
            (b.action for b in self._bindings.key_to_bindings.get(event.key, []) if b.id in ("promote", "rollback")),
            None,
        )
        if action is None:
            return
        event.stop()
        self.send_refused(action)

    def send_refused(self, action: str) -> None:
        at, who = self.session.now(), self.operator()
        intent = (
            ev.PromoteRequested(at=at, operator=who)
            if action == "promote"
            else ev.RollbackRequested(at=at, operator=who)
        )
        self.session.submit(intent)
        self.notify(f"{action}: needs the admin role from whoami; the refusal is in the log", severity="error")

    def operator(self) -> str:
        """Who presses the keys: an attached console's own operator, else the session's driver."""
        return getattr(self.session, "operator", "") or self.state.operator

    def action_promote(self) -> None:
        s = self.state
        target = s.next_weight
        if target is None:
            return

        def done(yes: bool | None) -> None:
            if yes:
                self.session.submit(ev.PromoteRequested(at=self.session.now(), operator=self.operator(), weight=target))

        title = f"Promote {s.plan.deployment}"
        self.app.push_screen(ConfirmModal(title, f"promote {s.weight}% → {target}%?", "Promote"), done)

    def action_rollback(self, reason: str = "MANUAL", detail: str = "") -> None:
        s = self.state

        def done(choice: tuple[str, str] | None) -> None:
            if choice:
                reason, detail = choice
                self.session.submit(
                    ev.RollbackRequested(at=self.session.now(), operator=self.operator(), reason=reason, detail=detail)
                )

        weight = s.weight or s.pending or 0
        self.app.push_screen(RollbackModal(weight, s.plan.deployment, reason=reason, detail=detail), done)

    def action_waive(self) -> None:
        item = self.query_one(ChecklistTable).current_item()
        if item:
            self.waive(item)

    def attest(self, item_id: str, note: str | None = None) -> None:
        item = self.state.plan.item(item_id)
        if self.readonly:
            self.notify("read-only console: nothing can be attested", severity="warning")
            return
        if item.handling != "manual":
            self.notify(f"{item_id} is {item.handling}: the console handles it; press w to waive", severity="warning")
            return
        if note is not None:
            self.session.submit(
                ev.ItemAttested(at=self.session.now(), item=item_id, operator=self.operator(), note=note)
            )
            return
        title = f"Attest {item_id}"

        def done(text: str | None) -> None:
            if text is not None:
                self.attest(item_id, text)

        self.app.push_screen(NoteModal(title, item.text, required=False, placeholder="optional note"), done)

    def waive(self, item_id: str, reason: str | None = None) -> None:
        if self.readonly:
            return
        if reason:
            self.session.submit(
                ev.ItemWaived(at=self.session.now(), item=item_id, operator=self.operator(), reason=reason)
            )
            return

        def done(text: str | None) -> None:
            if text:
                self.waive(item_id, text)

        self.app.push_screen(NoteModal(f"Waive {item_id}", "Why is this item waived?", required=True), done)
