"""What each command does. Everything is checked before anything is written to the store."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
from dataclasses import dataclass
from typing import Any

from console import events as ev
from console.cli import UsageError, default_db
from console.plan import Plan, load_plan


def dispatch(args: argparse.Namespace) -> int:
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
        case "sessions":
            return list_sessions(args)
        case "audit":
            return audit_verify(args)
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


def open_store(args: argparse.Namespace) -> Any:
    from sessions.store import EventStore

    return EventStore(args.db or default_db())


def attestations(plan: Plan, args: argparse.Namespace, *, demo: bool) -> list[tuple[str, str]]:
    """(item, note) for every manual item attested on the command line; exit 2 if any is left."""
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
    if args.attest_all is not None or demo:
        note = args.attest_all if args.attest_all is not None else "demo operator"
        for item in manual:
            given.setdefault(item, note)
    missing = sorted(manual - given.keys())
    if missing:
        raise UsageError(
            f"{len(missing)} manual items need an operator's attestation (--attest ITEM[=NOTE] or --attest-all NOTE): "
            + ", ".join(missing)
        )
    return [(i.id, given[i.id]) for i in plan.items if i.id in given]


def operator_name(user: str) -> str:
    ssh = os.environ.get("SSH_CLIENT", "").split()
    return f"{user}@{ssh[0] if ssh else socket.gethostname()}"


def demo(args: argparse.Namespace) -> int:
    from console.clock import SteppedClock
    from console.metrics import SimulatorSource
    from console.ops import LocalOps
    from console.scenarios import SCENARIOS
    from console.sim import SimModel

    if args.scenario not in SCENARIOS:
        raise UsageError(f"unknown scenario {args.scenario!r}; choose one of: {', '.join(SCENARIOS)}")
    plan = load_plan(args.plan)
    clock = SteppedClock(args.speed)
    model = SimModel(args.scenario, args.seed, poll_interval=plan.poll_interval)
    who = model.whoami()
    rollout = Rollout(
        plan=plan,
        ops=LocalOps(model, clock),
        metrics=SimulatorSource(model, plan),
        clock=clock,
        operator=operator_name(who["user"]),
        roles=list(who["roles"]),
        attestations=attestations(plan, args, demo=True),
        scenario=args.scenario,
    )
    return drive(args, rollout)


def run(args: argparse.Namespace) -> int:
    from console.clock import RealClock
    from console.ops import OpsClient, token_from
    from console.prom import PrometheusSource

    plan = load_plan(args.plan)
    marks = attestations(plan, args, demo=False) if args.headless else []
    token = token_from(os.environ.get("CANARY_OPS_TOKEN"), args.token_file)
    ops = OpsClient(args.ops_url, token)
    metrics = PrometheusSource(args.prometheus_url, plan)

    async def identify() -> Any:
        try:
            await metrics.check()
            return await ops.whoami()
        except BaseException:
            await ops.aclose()
            raise

    who = asyncio.run(identify())
    if args.auto_promote and "admin" not in who.roles:
        raise UsageError(
            f"--auto-promote needs the admin role; the ops API says {who.user} has: {', '.join(who.roles)}"
        )
    rollout = Rollout(plan, ops, metrics, RealClock(), operator_name(who.user), list(who.roles), marks)
    return drive(args, rollout)


def drive(args: argparse.Namespace, r: Rollout) -> int:
    if not args.headless:
        raise UsageError("the interactive console is not built yet; add --headless")
    return asyncio.run(_drive_headless(args, r))


async def _drive_headless(args: argparse.Namespace, r: Rollout) -> int:
    from console.headless import Printer
    from console.runner import Runner

    store = open_store(args)
    session = store.open_session(
        deployment=r.plan.deployment, scenario=r.scenario, plan=r.plan.name, operator=r.operator
    )
    runner = Runner(
        plan=r.plan, store=store, ops=r.ops, metrics=r.metrics, clock=r.clock, session=session, listeners=[Printer()]
    )
    started = ev.SessionStarted(
        at=r.clock.now(),
        session=session,
        deployment=r.plan.deployment,
        plan=r.plan.name,
        operator=r.operator,
        roles=r.roles,
        auto_promote=args.auto_promote,
        scenario=r.scenario,
    )
    marks = [ev.ItemAttested(at=r.clock.now(), item=i, operator=r.operator, note=n) for i, n in r.attestations]
    try:
        await runner.start(started, marks)
        failed = [i for i, st in runner.state.items.items() if st.status == "failed"]
        if failed and runner.state.phase == "preflight":
            runner.submit(
                ev.AbortRequested(at=r.clock.now(), operator=r.operator, reason=f"pre-flight failed: {failed}")
            )
        outcome = await runner.run()
    finally:
        await r.ops.aclose()
        await r.metrics.aclose()
        store.close()
    return 0 if outcome == "succeeded" else 1


def sim(args: argparse.Namespace) -> int:
    from console.ops import token_from
    from console.scenarios import SCENARIOS
    from console.sim_server import serve

    if args.scenario not in SCENARIOS:
        raise UsageError(f"unknown scenario {args.scenario!r}; choose one of: {', '.join(SCENARIOS)}")
    token = token_from(None, args.token_file) if args.token_file else None
    serve(args.host, args.port, args.scenario, args.speed, args.seed, token, args.call_log)
    return 0


# -- the record ------------------------------------------------------------------------------


def list_sessions(args: argparse.Namespace) -> int:
    store = open_store(args)
    rows = store.sessions()
    store.close()
    if args.json:
        print(json.dumps([_session_dict(s) for s in rows], indent=2))
        return 0
    if not rows:
        print("no sessions")
        return 0
    print(f"{'ID':<21} {'DEPLOYMENT / SCENARIO':<34} {'OUTCOME':<12} {'MAX':>4}  {'STARTED':<20} ENDED")
    for s in rows:
        what = f"{s.deployment} / {s.scenario}" if s.scenario else s.deployment
        print(
            f"{s.id:<21} {what:<34} {s.outcome or 'open':<12} {s.highest_weight:>3}%  {s.started[:19]:<20} "
            f"{(s.ended or '-')[:19]}"
        )
    return 0


def _session_dict(s: Any) -> dict[str, Any]:
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
    }


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
            print(f"{r.session}: ok")
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
