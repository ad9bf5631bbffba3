"""The rollout plan: stages, SLO rules and checklist items, loaded from TOML.

`default_plan()` is the team's canary checklist (`default_plan.toml` beside this file).
Durations are seconds, or strings such as "90s", "5m", "2h", "1h30m".
"""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, ValidationError, model_validator

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|m|s)")


class PlanError(Exception):
    """A plan that cannot be used; the message is one line naming the field."""


def parse_duration(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError("expected seconds or a duration such as '5m'")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        if text.startswith("-"):
            return -parse_duration(text[1:])
        if _DURATION.fullmatch(text) or re.fullmatch(r"(?:\d+(?:\.\d+)?(?:h|m|s))+", text):
            units = {"h": 3600.0, "m": 60.0, "s": 1.0}
            return sum(float(n) * units[u] for n, u in _DURATION.findall(text))
        try:
            return float(text)
        except ValueError:
            pass
    raise ValueError(f"not a duration: {value!r} (use seconds or e.g. '90s', '5m', '2h')")


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        n, seconds = divmod(seconds, size)
        if n:
            parts.append(f"{n}{unit}")
    return "".join(parts)


Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
Comparator = Literal[">", ">=", "<", "<="]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rule(_Strict):
    """An SLO rule. It *breaches* when `value <comparator> threshold`."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    query: str
    comparator: Comparator
    threshold: float
    sustain: Duration = 0.0
    on_no_data: Literal["unknown", "ok", "breach"] = "unknown"
    action: Literal["rollback", "hold"] = "rollback"
    unit: Literal["s", "ratio", "count"] = "ratio"
    by: str | None = None
    series: list[str] = Field(default_factory=list)
    dashboard: str | None = None

    def series_names(self) -> list[str]:
        """The series this rule watches: its name, or `name:label` per label value."""
        if self.by:
            return [f"{self.name}:{label}" for label in self.series]
        return [self.name]

    def breaches(self, value: float) -> bool:
        t = self.threshold
        match self.comparator:
            case ">":
                return value > t
            case ">=":
                return value >= t
            case "<":
                return value < t
            case _:
                return value <= t


class Shown(_Strict):
    """A metric shown to the operator (advisory): no automatic action."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    query: str
    unit: str = ""
    advice: str = ""


class Stage(_Strict):
    weight: int = Field(gt=0, le=100)
    bake: Duration


Phase = Literal["preflight", "rollout", "post", "rollback", "comms", "info"]
Handling = Literal["ops", "manual", "rule", "shown", "gate", "auto"]
GATING = ("preflight", "rollout", "post")


class Item(_Strict):
    """One checkbox of the checklist and how the console handles it."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    section: str
    text: str
    handling: Handling
    phase: Phase
    target: str | None = None
    rule: str | None = None
    shown: str | None = None
    how: str = ""
    required: bool = True

    @model_validator(mode="after")
    def _refs(self) -> Item:
        if self.handling == "ops" and not self.target:
            raise ValueError(f"item {self.id}: handling 'ops' needs a target")
        if self.handling == "rule" and not self.rule:
            raise ValueError(f"item {self.id}: handling 'rule' needs a rule")
        if self.handling == "shown" and not self.shown:
            raise ValueError(f"item {self.id}: handling 'shown' needs a shown metric")
        return self


class Channel(_Strict):
    """Where milestone messages go. The URL is a secret (a Slack webhook URL is a credential):
    better named by `url_env`, an environment variable holding it; never logged or stored."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    kind: Literal["slack", "webhook"]
    url: SecretStr | None = None
    url_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")

    @model_validator(mode="after")
    def _one_url(self) -> Channel:
        if (self.url is None) == (self.url_env is None):
            raise ValueError(f"channel {self.name}: give either url or url_env")
        if self.url is not None and not self.url.get_secret_value().startswith(("https://", "http://")):
            raise ValueError(f"channel {self.name}: url must start with https:// or http://")
        return self


class Contact(_Strict):
    """An emergency contact, and when the console puts them in front of the operator."""

    name: str
    role: Literal["primary-oncall", "database", "security", "platform"]
    channel: str
    when: str = ""
    rules: list[str] = Field(default_factory=list)  # call on a breach (pending or breached) of these rules
    on_rollback: bool = False  # call on any rollback


class Plan(_Strict):
    name: str
    deployment: str
    poll_interval: Duration = 10.0
    stages: list[Stage] = Field(min_length=1)
    validation: Duration = 7200.0
    no_data_limit: Duration = 300.0
    cumulative_cap: float = Field(default=0.5, gt=0, le=1)
    rules: list[Rule] = Field(default_factory=list)
    shown: list[Shown] = Field(default_factory=list)
    items: list[Item] = Field(default_factory=list)
    channels: list[Channel] = Field(default_factory=list)
    contacts: list[Contact] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Plan:
        if self.poll_interval <= 0:
            raise ValueError("poll_interval: must be more than 0")
        weights = [s.weight for s in self.stages]
        for i in range(1, len(weights)):
            if weights[i] <= weights[i - 1]:
                raise ValueError(
                    f"stages.{i}.weight: weights must strictly increase ({weights[i - 1]} then {weights[i]})"
                )
        if weights[-1] != 100:
            raise ValueError(f"stages.{len(weights) - 1}.weight: the last stage must be 100, not {weights[-1]}")
        _unique("rules", [r.name for r in self.rules] + [s.name for s in self.shown])
        _unique("items", [i.id for i in self.items])
        rules = {r.name for r in self.rules}
        shown = {s.name for s in self.shown}
        for n, item in enumerate(self.items):
            if item.rule and item.rule not in rules:
                raise ValueError(f"items.{n}.rule: unknown rule {item.rule!r}")
            if item.shown and item.shown not in shown:
                raise ValueError(f"items.{n}.shown: unknown shown metric {item.shown!r}")
        _unique("channels", [c.name for c in self.channels])
        _unique("contacts", [c.name for c in self.contacts])
        for n, contact in enumerate(self.contacts):
            for rule in contact.rules:
                if rule not in rules:
                    raise ValueError(f"contacts.{n}.rules: unknown rule {rule!r}")
        return self

    def rule(self, name: str) -> Rule:
        return next(r for r in self.rules if r.name == name)

    def item(self, item_id: str) -> Item:
        return next(i for i in self.items if i.id == item_id)

    def series(self) -> dict[str, Rule]:
        """Every watched series name, mapped to its rule."""
        return {s: r for r in self.rules for s in r.series_names()}

    def manual_items(self) -> list[Item]:
        """Required operator attestations that gate the rollout (pre-flight, rollout, post)."""
        return [i for i in self.items if i.handling == "manual" and i.required and i.phase in GATING]


def _unique(field_name: str, names: list[str]) -> None:
    seen: set[str] = set()
    for n, name in enumerate(names):
        if name in seen:
            raise ValueError(f"{field_name}.{n}: duplicate name {name!r}")
        seen.add(name)


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    return f"{loc}: {msg}" if loc and not msg.startswith(loc) else msg


def parse_plan(text: str, source: str = "plan") -> Plan:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(f"{source}: not valid TOML: {exc}") from None
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        raise PlanError(f"{source}: {_first_error(exc)}") from None


def load_plan(path: Path | str | None) -> Plan:
    """Load a plan file, or the default plan when `path` is None."""
    if path is None:
        return default_plan()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanError(f"cannot read plan {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise PlanError(f"cannot read plan {path}: not UTF-8 text") from None
    return parse_plan(text, str(path))


def default_plan() -> Plan:
    text = resources.files("console").joinpath("default_plan.toml").read_text(encoding="utf-8")
    return parse_plan(text, "default plan")
