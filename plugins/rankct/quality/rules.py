"""The rules of data gate 1, declared once for both engines.

A rule set (:class:`RuleSpec`) names the table it counts over, the lookups it joins on (other
tables reduced to one row per key), the counts it needs (conditions in a small expression
language that renders to Spark SQL and to BigQuery SQL) and the function that turns the counted
values into check results. :mod:`rankct.quality.content` renders a spec to one Spark aggregation,
:mod:`rankct.quality.bigquery` to one BigQuery subquery; both feed the same ``record`` function,
so the thresholds, the JSON and the failure text cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from rankct.config import LabelConfig, QualityConfig
from rankct.contract import EVENT_TYPES, SURFACES, TABLES
from rankct.quality.results import CheckResult, ValidationResult

Dialect = Literal["spark", "bigquery"]


class Expr:
    """A condition or value over a row; ``render`` gives its SQL in one dialect."""

    def render(self, dialect: Dialect) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class Col(Expr):
    name: str

    def render(self, dialect: Dialect) -> str:
        return f"`{self.name}`"  # both dialects quote identifiers with backticks


@dataclass(frozen=True)
class Lit(Expr):
    """A literal number, string or date."""

    value: int | float | str | date

    def render(self, dialect: Dialect) -> str:
        if isinstance(self.value, date):
            return f"DATE '{self.value.isoformat()}'"
        if isinstance(self.value, str):
            return "'" + self.value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        return repr(self.value)


@dataclass(frozen=True)
class IsNull(Expr):
    operand: Expr

    def render(self, dialect: Dialect) -> str:
        return f"{self.operand.render(dialect)} IS NULL"


@dataclass(frozen=True)
class NotIn(Expr):
    """Outside a vocabulary (a null value is neither in nor out, as in SQL)."""

    operand: Expr
    values: tuple[str, ...]

    def render(self, dialect: Dialect) -> str:
        listed = ", ".join(Lit(v).render(dialect) for v in self.values)
        return f"{self.operand.render(dialect)} NOT IN ({listed})"


@dataclass(frozen=True)
class Cmp(Expr):
    left: Expr
    op: Literal["<", "<=", ">", ">=", "=", "!="]
    right: Expr

    def render(self, dialect: Dialect) -> str:
        return f"{self.left.render(dialect)} {self.op} {self.right.render(dialect)}"


@dataclass(frozen=True)
class DateOf(Expr):
    """The UTC calendar date of a timestamp (the Spark session's zone is UTC)."""

    operand: Expr

    def render(self, dialect: Dialect) -> str:
        fn = "to_date" if dialect == "spark" else "DATE"
        return f"{fn}({self.operand.render(dialect)})"


@dataclass(frozen=True)
class PlusMinutes(Expr):
    operand: Expr
    minutes: int

    def render(self, dialect: Dialect) -> str:
        inner = self.operand.render(dialect)
        if dialect == "spark":
            return f"{inner} + INTERVAL {self.minutes} MINUTES"
        return f"TIMESTAMP_ADD({inner}, INTERVAL {self.minutes} MINUTE)"


@dataclass(frozen=True)
class Count:
    """Rows where ``where`` holds (every row when it is None)."""

    name: str
    where: Expr | None = None

    def render(self, dialect: Dialect) -> str:
        if self.where is None:
            return "COUNT(1)"
        condition = self.where.render(dialect)
        if dialect == "spark":
            return f"SUM(CAST(({condition}) AS BIGINT))"
        return f"COUNTIF({condition})"


@dataclass(frozen=True)
class Lookup:
    """Another table reduced to one row per ``key``: ``flag`` is true on a matched row and each
    ``earliest`` pair (alias, column) is the column's minimum over the key's rows."""

    table: str
    key: tuple[str, ...]
    flag: str
    earliest: tuple[tuple[str, str], ...] = ()
    history: bool = False  # every complete partition up to the day (a change log), not the day's

    @property
    def columns(self) -> list[str]:
        return [*self.key, *(column for _, column in self.earliest)]


Record = Callable[[ValidationResult, dict[str, Any]], None]


@dataclass(frozen=True)
class RuleSpec:
    """One aggregation: counts over ``base`` (the day's partition, ``columns`` of it, left-joined
    with ``lookups``) and, with ``unique_key``, the rows beyond the first of each key (as
    ``_dups``; a null key counts as one key, as in GROUP BY)."""

    name: str
    base: str
    columns: tuple[str, ...]
    counts: tuple[Count, ...]
    record: Record
    lookups: tuple[Lookup, ...] = ()
    unique_key: tuple[str, ...] = ()


def rate(count: int, rows: int) -> float:
    return count / rows if rows else 0.0


def table_spec(table: str, day: date, quality: QualityConfig) -> RuleSpec:
    """The per-row rules of one table (nulls, vocabularies, dates) and its duplicated keys."""
    counts = [Count("_rows"), *(Count(c, IsNull(Col(c))) for c in TABLES[table].column_names)]
    if table == "impressions":
        counts += [Count("_bad_surface", NotIn(Col("surface"), SURFACES)),
                   Count("_bad_position", Cmp(Col("position"), "<", Lit(1))),
                   Count("_off_date", Cmp(DateOf(Col("served_at")), "!=", Lit(day)))]
    elif table == "events":
        counts.append(Count("_bad_type", NotIn(Col("event_type"), EVENT_TYPES)))
    else:
        counts.append(Count("_future", Cmp(DateOf(Col("updated_at")), ">", Lit(day))))

    def record(result: ValidationResult, row: dict[str, Any]) -> None:
        record_table(result, row, table, day, quality)

    return RuleSpec(table, table, tuple(TABLES[table].column_names), tuple(counts), record,
                    unique_key=TABLES[table].key)


def _null_checks(result: ValidationResult, table: str, where: str, rows: int, nulls: dict,
                 quality: QualityConfig) -> None:
    for column in TABLES[table].columns:
        if column.nullable and column.name != "position":
            continue
        limit = (quality.max_null_rate_position if column.name == "position"
                 else quality.max_null_rate_required)
        share = rate(nulls[column.name], rows)
        result.add(CheckResult(table, "null_rate", where, share <= limit, column=column.name,
                               observed=share, threshold=limit,
                               detail=f"{nulls[column.name]} of {rows} rows are null"))


def record_table(result: ValidationResult, row: dict[str, Any], table: str, day: date,
                 quality: QualityConfig) -> None:
    """Check results of :func:`table_spec`'s counts."""
    where = f"dt={day.isoformat()}"
    rows = int(row["_rows"])
    nulls = {c: int(row[c] or 0) for c in TABLES[table].column_names}
    if table in ("impressions", "events"):
        result.add(CheckResult(table, "not_empty", where, rows > 0, observed=rows, threshold="> 0"))
    _null_checks(result, table, where, rows, nulls, quality)
    dups = int(row["_dups"] or 0)
    share = rate(dups, rows)
    result.add(CheckResult(table, "unique_key", where, share <= quality.max_duplicate_rate,
                           column=",".join(TABLES[table].key), observed=share,
                           threshold=quality.max_duplicate_rate, detail=f"{dups} duplicated rows"))

    def vocabulary(column: str, bad: int, allowed: str) -> None:
        result.add(CheckResult(table, "allowed_values", where, bad == 0, column=column,
                               observed=rate(bad, rows), threshold=0.0,
                               detail=f"{bad} rows outside {allowed}"))

    if table == "impressions":
        vocabulary("surface", int(row["_bad_surface"] or 0), "|".join(SURFACES))
        vocabulary("position", int(row["_bad_position"] or 0), "1, 2, 3, ...")
        off = int(row["_off_date"] or 0)
        result.add(CheckResult(table, "partition_date", where, off == 0, column="served_at",
                               observed=rate(off, rows), threshold=0.0,
                               detail=f"{off} rows served on another day"))
    elif table == "events":
        vocabulary("event_type", int(row["_bad_type"] or 0), "|".join(EVENT_TYPES))
    else:
        future = int(row["_future"] or 0)
        result.add(CheckResult(table, "partition_date", where, future == 0, column="updated_at",
                               observed=rate(future, rows), threshold=0.0,
                               detail=f"{future} rows updated after the partition's day"))


def reference_spec(day: date, quality: QualityConfig) -> RuleSpec:
    """Impressions resolve to known items and users, and no sold item is served after its sale."""
    def record(result: ValidationResult, row: dict[str, Any]) -> None:
        where, rows = f"dt={day.isoformat()}", int(row["rows"])
        for rule, column, key, limit in (
            ("known_items", "item_id", "unknown_items", quality.max_orphan_rate),
            ("known_users", "user_id", "unknown_users", quality.max_orphan_rate),
            ("shown_after_sale", "item_id", "after_sale", quality.max_shown_after_sale_rate),
        ):
            count = int(row[key] or 0)
            share = rate(count, rows)
            result.add(CheckResult("impressions", rule, where, share <= limit, column=column,
                                   observed=share, threshold=limit,
                                   detail=f"{count} of {rows} rows"))

    return RuleSpec(
        "references", "impressions", ("item_id", "user_id", "served_at"),
        (Count("rows"), Count("unknown_items", IsNull(Col("_i"))),
         Count("unknown_users", IsNull(Col("_u"))),
         Count("after_sale", Cmp(Col("served_at"), ">", Col("sold_at")))),
        record,
        lookups=(Lookup("items", ("item_id",), "_i", (("sold_at", "sold_at"),), history=True),
                 Lookup("users", ("user_id",), "_u", history=True)))


def event_time_spec(day: date, quality: QualityConfig, labels: LabelConfig) -> RuleSpec:
    """Every event attributes to an impression and happens after it, inside the window."""
    minutes = labels.attribution_window_minutes
    late = f"events more than {minutes} minutes after the impression"

    def record(result: ValidationResult, row: dict[str, Any]) -> None:
        where, rows = f"dt={day.isoformat()}", int(row["rows"])
        for rule, key, limit, detail in (
            ("event_matches_impression", "unmatched", quality.max_orphan_rate,
             "events with no impression of the same request and item"),
            ("event_after_impression", "before", quality.max_event_time_violation_rate,
             "events before their impression"),
            ("event_in_window", "late", quality.max_event_time_violation_rate, late),
        ):
            count = int(row[key] or 0)
            share = rate(count, rows)
            result.add(CheckResult("events", rule, where, share <= limit, column="event_at",
                                   observed=share, threshold=limit, detail=f"{count} {detail}"))

    return RuleSpec(
        "events_vs_impressions", "events", tuple(TABLES["events"].column_names),
        (Count("rows"), Count("unmatched", IsNull(Col("_m"))),
         Count("before", Cmp(Col("event_at"), "<", Col("served_at"))),
         Count("late", Cmp(Col("event_at"), ">", PlusMinutes(Col("served_at"), minutes)))),
        record,
        lookups=(Lookup("impressions", ("request_id", "item_id"), "_m",
                        (("served_at", "served_at"),)),))


def day_specs(usable: set[str], day: date, config_quality: QualityConfig,
              labels: LabelConfig) -> list[RuleSpec]:
    """Every rule set that can run on a day whose ``usable`` tables passed the file checks."""
    specs = [table_spec(t, day, config_quality) for t in TABLES if t in usable]
    if "impressions" in usable:
        specs.append(reference_spec(day, config_quality))
        if "events" in usable:
            specs.append(event_time_spec(day, config_quality, labels))
    return specs
