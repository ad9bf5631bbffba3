"""What each command does. Everything is checked before anything is written to the store."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console import events as ev
from console.cli import UsageError, default_db
from console.engine import FINAL
from console.plan import Plan, load_plan
from console.resume import begin

START_DEADLINE = 6.0  # seconds for the ops API to answer whoami at start


def dispatch(args: argparse.Namespace) -> int:
    if args.command == "resume":
        from console.resume import resume_args

        args = resume_args(args.db, args.id, args.headless, args.take_over)
    match args.command:
        case "demo":
            return demo(args)
        case "run" | None:
            if args.command is None:
                raise UsageError(
                    "give a command (see --help); to drive a rollout: run --ops-url URL --prometheus-url URL"
                )
            return run(args)
        case "sim":
            return sim(args)
        case "attach":
            from console.attach import attach

            return attach(args)
        case "sessions":
            from console.sessions_cmd import list_sessions

            return list_sessions(args)
        case "audit":
            return audit_verify(args)
        case "replay":
            from console.replay import replay

            return replay(args)
        case "export":
            from console.export_cmd import command as export_command

            return export_command(args)
        case "backtest":
            from console.backtest import command as backtest_command

            return backtest_command(args)
        case "plan":
            return show_plan(args)
    raise UsageError(f"unknown command {args.command}")


# -- rollouts ----------------------------------------------------------------------------


@dataclass
class Rollout:
    """Everything a rollout needs, checked and ready, before the store is touched."""

    plan: Plan
    ops: Any
    metrics: Any
    clock: Any
    operator: str
    roles: list[str]
    attestations: list[tuple[str, str]]
    scenario: str = ""
    meta: dict[str, Any] = field(default_factory=dict)  # how it was started, for `resume` (no secrets)
    sim: Any = None  # the embedded simulator's model, when there is one


def open_store(args: argparse.Namespace) -> Any:
    from sessions.anchor import Anchor
    from sessions.store import EventStore

    return EventStore(args.db or default_db(), Anchor())


def attestations(plan: Plan, args: argparse.Namespace, *, demo: bool) -> list[tuple[str, str]]:
    """(item, note) for the manual items attested on the command line.

    Headless, every gating item must be attested (the demo attests them as its operator);
    with a screen, the rest are ticked there.
    """
    manual = {i.id for i in plan.manual_items()}
    known = {i.id for i in plan.items if i.handling == "manual"}
    given: dict[str, str] = {}
    for spec in args.attest:
        item, _, note = spec.partition("=")
        if item not in known:
            raise UsageError(
                f"--attest {item}: no manual item of that id in plan {plan.name} (see: canary-console plan)"
            )
        given[item] = note
    if args.attest_all is not None or (demo and args.headless):
        note = args.attest_all if args.attest_all is not None else "demo operator"
        for item in manual:
            given.setdefault(item, note)
    missing = sorted(manual - given.keys())
    if missing and args.headless:
        raise UsageError(
            f"{len(missing)} manual items need an operator's attestation (--attest ITEM[=NOTE] or --attest-all NOTE): "
            + ", ".join(missing)
        )
    return [(i.id, given[i.id]) for i in plan.items if i.id in given]


def operator_name(user: str) -> str:
    ssh = os.environ.get("SSH_CLIENT", "").split()
    return f"{user}@{ssh[0] if ssh else socket.gethostname()}"


def demo(args: argparse.Namespace) -> int:
    from console.scenarios import SCENARIOS
    from console.sim import CHECK_TARGETS

    if args.scenario not in SCENARIOS:
        raise UsageError(f"unknown scenario {args.scenario!r}; choose one of: {', '.join(SCENARIOS)}")
    plan = load_plan(args.plan)
    marks = attestations(plan, args, demo=True)
    failing = frozenset(args.fail_check)
    unknown = sorted(failing - set(CHECK_TARGETS))
    if unknown:
        raise UsageError(f"--fail-check {unknown[0]}: not a simulated target ({', '.join(CHECK_TARGETS)})")

    async def prepare() -> Rollout:
        from console.clock import SteppedClock
        from console.metrics import SimulatorSource
        from console.ops import LocalOps
        from console.sim import SimModel

        clock = SteppedClock(args.speed)
        model = SimModel(args.scenario, args.seed, poll_interval=plan.poll_interval, failing_checks=failing)
        who = model.whoami()
        ops, metrics = LocalOps(model, clock), SimulatorSource(model, plan)
        meta = {
            "command": "demo",
            "scenario": args.scenario,
            "seed": args.seed,
            "speed": args.speed,
            "fail_check": sorted(failing),
            "plan": _plan_path(args),
            "auto_promote": args.auto_promote,
            "attest": args.attest,  # not secrets: a resume after a crash attests the same way
            "attest_all": args.attest_all,
            "no_notify": getattr(args, "no_notify", False),
        }
        operator, roles = operator_name(who["user"]), list(who["roles"])
        return Rollout(plan, ops, metrics, clock, operator, roles, marks, args.scenario, meta, model)

    return drive(args, prepare, plan, args.scenario)


def run(args: argparse.Namespace) -> int:
    plan = load_plan(args.plan)
    marks = attestations(plan, args, demo=False)
    from console.ops import token_from

    token = token_from(os.environ.get("CANARY_OPS_TOKEN"), args.token_file)

    async def prepare() -> Rollout:
        from console.clock import RealClock
        from console.ops import OpsClient
        from console.prom import PrometheusSource

        ops = OpsClient(args.ops_url, token)
        metrics = PrometheusSource(args.prometheus_url, plan)
        try:
            await metrics.check()
            who = await _first_whoami(ops)
        except BaseException:
            await ops.aclose()
            raise
        if args.auto_promote and "admin" not in who.roles:
            await ops.aclose()
            roles = ", ".join(who.roles) or "none"
            raise UsageError(f"--auto-promote needs the admin role; the ops API says {who.user} has: {roles}")
        meta = {
            "command": "run",
            "ops_url": args.ops_url,
            "prometheus_url": args.prometheus_url,
            "token_file": str(args.token_file) if args.token_file else None,
            "plan": _plan_path(args),
            "auto_promote": args.auto_promote,
            "attest": args.attest,  # not secrets: a resume after a crash attests the same way
            "attest_all": args.attest_all,
            "no_notify": getattr(args, "no_notify", False),
        }
        return Rollout(plan, ops, metrics, RealClock(), operator_name(who.user), list(who.roles), marks, meta=meta)

    return drive(args, prepare, plan)


async def _first_whoami(ops: Any) -> Any:
    """At start nobody waits for the full retry deadline: a few seconds of retries, then one clear line."""
    during, ops.retry_deadline = ops.retry_deadline, START_DEADLINE
    try:
        return await ops.whoami()
    finally:
        ops.retry_deadline = during


def drive(args: argparse.Namespace, prepare: Callable[[], Awaitable[Rollout]], plan: Plan, scenario: str = "") -> int:
    if args.headless:
        return asyncio.run(_drive_headless(args, prepare))
    from console.attach import live_driver, watch

    driven = live_driver(Path(args.db or default_db()), plan, scenario) if not args.resume_id else None
    if driven is not None:  # one driver per deployment: this console watches
        return watch(args, plan, driven[0])
    from console.app import run_app

    return run_app(args, prepare)


def _plan_path(args: argparse.Namespace) -> str | None:
    return str(Path(args.plan).resolve()) if args.plan else None


async def _drive_headless(args: argparse.Namespace, prepare: Callable[[], Awaitable[Rollout]]) -> int:
    from console.guard import Guard, on_hangup
    from console.headless import Printer
    from console.notify import notifier_for
    from console.runner import Runner

    warn = logging.StreamHandler(sys.stderr)  # headless, the operator sees warnings (one line each)
    warn.setLevel(logging.WARNING)
    warn.setFormatter(logging.Formatter("canary-console: warning: %(message)s"))
    logging.getLogger("console").addHandler(warn)
    r = await prepare()
    try:
        b = begin(r, args.db, args.auto_promote, new=args.new, session_id=args.resume_id, take_over=args.take_over)
    except BaseException:
        await r.ops.aclose()
        raise
    printer = Printer()
    runner = Runner(
        plan=r.plan, store=b.store, ops=r.ops, metrics=r.metrics, clock=r.clock, session=b.session, listeners=[printer]
    )
    runner.listeners.append(lambda e, s: _no_operator(runner, e, s))
    runner.on_trouble.append(printer.trouble)
    notifier = notifier_for(r.plan, r.meta)
    notifier.attach(runner)
    on_hangup(lambda: None)  # the terminal went away: keep guarding, print to nowhere
    try:
        async with Guard(b.control, runner, b.session):
            await b.starter(runner)
            outcome = await runner.run()
            await notifier.finish()
    finally:
        await notifier.aclose()
        await r.ops.aclose()
        await r.metrics.aclose()
        b.store.close()
    if runner.stopped:
        raise UsageError(f"stopped: {runner.stopped}; session {b.session} stays open")
    return 0 if outcome == "succeeded" else 1


def _no_operator(runner: Any, e: ev.Event, s: Any) -> None:
    """Headless, nobody can waive a failed check: abort before traffic, roll back after."""
    if not isinstance(e, ev.CheckResult) or e.ok:
        return
    reason = f"check {e.item} failed: {e.detail}"
    if s.phase == "preflight":
        runner.submit(ev.AbortRequested(at=e.at, operator=s.operator, reason=reason))
    elif s.phase not in ("rolling_back", *FINAL):
        runner.submit(ev.RollbackRequested(at=e.at, operator=s.operator, reason="CHECK_FAILED", detail=reason))


def sim(args: argparse.Namespace) -> int:
    from console.ops import token_from
    from console.scenarios import SCENARIOS
    from console.sim_server import serve

    if args.scenario not in SCENARIOS:
        raise UsageError(f"unknown scenario {args.scenario!r}; choose one of: {', '.join(SCENARIOS)}")
    token = token_from(None, args.token_file) if args.token_file else None
    viewer = token_from(None, args.viewer_token_file) if args.viewer_token_file else None
    faults = sim_faults(args.fault)
    serve(
        args.host,
        args.port,
        args.scenario,
        args.speed,
        args.seed,
        token,
        args.call_log,
        viewer_token=viewer,
        faults=faults,
    )
    return 0


def sim_faults(specs: list[str]) -> Any:
    """`--fault NAME=VALUE` options as the simulator's Faults; timeout_after_apply takes promote,rollback."""
    import contextlib

    from console.sim_server import Faults

    faults = Faults()
    for spec in specs:
        name, sep, text = spec.partition("=")
        if not sep:
            raise UsageError(f"--fault {spec}: give NAME=VALUE, e.g. fail_next_rollback=3")
        current = getattr(faults, name, None)
        value: Any = text
        if isinstance(current, set):
            value = sorted(current | {t.strip() for t in text.split(",") if t.strip()})
        elif isinstance(current, bool):
            value = {"true": True, "false": False}.get(text.lower(), text)
        else:
            with contextlib.suppress(ValueError):
                value = json.loads(text)  # a number
        try:
            faults.update({name: value})
        except ValueError as exc:
            raise UsageError(f"--fault {spec}: {exc}") from None
    return faults


# -- the record ------------------------------------------------------------------------------


def audit_verify(args: argparse.Namespace) -> int:
    store = open_store(args)
    try:
        session = store.resolve(args.id) if args.id else None
        results = store.verify(session)
    finally:
        store.close()
    bad = [r for r in results if not r.ok]
    for r in results:
        if r.ok:
            print(f"{r.session}: {r.reason}")  # "ok", or "ok (no anchor …)" for a log older than anchors
        else:
            print(f"{r.session}: TAMPERED at seq {r.bad_seq}: {r.reason}")
    if not results:
        print("no sessions to verify")
    return 1 if bad else 0


def show_plan(args: argparse.Namespace) -> int:
    from console.plan_view import plan_json, render_plan

    plan = load_plan(args.plan)
    print(plan_json(plan) if args.json else render_plan(plan), end="" if args.json else "\n")
    return 0
