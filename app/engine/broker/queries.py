"""`GET /trades`: its parameters, and the query over live positions, pending orders and history.

Parameters: tradeType, limit, offset and the where* filters.

The same parameters come from a JSON body or the query string. Filters name any trade column
(`net_profit` included):

    where           {"symbol": "EURUSD"}             column = value
    whereNot        {"cmd": 1}                       column != value
    whereIn         {"symbol": ["EURUSD","USDJPY"]}  column in values
    whereNotIn      {"state": [5]}                   column not in values
    whereBetween    {"open_time": [lo, hi]}          lo <= column <= hi
    whereNotBetween {"profit": [-10, 10]}            column < lo or column > hi

`where` also takes a list of conditions `[column, value]` or `[column, op, value]` with op one
of = != <> < <= > >=. In a query string a filter is either JSON (`where={"symbol":"EURUSD"}`)
or bracketed (`where[symbol]=EURUSD`, `whereIn[symbol]=EURUSD,USDJPY` or repeated
`whereIn[symbol][]=…`, `whereBetween[open_time]=lo,hi`).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from app.engine.broker.core import Core
from app.engine.broker.margin import Margin
from app.engine.broker.model import S_CANCELLED, S_CLOSED, S_FINANCE, TRADE_COLUMNS, ZERO, Account, dec
from app.engine.broker.store import SEL_HISTORY, trade_from_row
from app.engine.errors import InvalidInput

FILTERS = ("where", "whereNot", "whereIn", "whereNotIn", "whereBetween", "whereNotBetween")
TEXT_COLUMNS = frozenset({"symbol", "comment"})
COL_INDEX = {c: i for i, c in enumerate(TRADE_COLUMNS)}
DEFAULT_LIMIT = 1000
MAX_LIMIT = 100_000

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "==": operator.eq,
    "!=": operator.ne,
    "<>": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}

Predicate = Callable[[list[Any]], bool]


@dataclass
class TradeQuery:
    trade_type: int = 0
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    predicates: list[Predicate] = field(default_factory=list)

    def match(self, row: list[Any]) -> bool:
        return all(p(row) for p in self.predicates)


def _int(name: str, value: Any, lo: int, hi: int, default: int) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise InvalidInput.field(name, "must be an integer")
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise InvalidInput.field(name, "must be an integer") from None
    if isinstance(value, float) and value != n:
        raise InvalidInput.field(name, "must be an integer")
    if not lo <= n <= hi:
        raise InvalidInput.field(name, f"must be between {lo} and {hi}")
    return n


def _value(fname: str, column: str, v: Any) -> Any:
    if column in TEXT_COLUMNS:
        if isinstance(v, (dict, list)) or v is None:
            raise InvalidInput.field(fname, "must be a string")
        return str(v)
    if isinstance(v, bool) or isinstance(v, (dict, list)) or v is None:
        raise InvalidInput.field(fname, "must be a number")
    try:
        return float(v)
    except (TypeError, ValueError):
        raise InvalidInput.field(fname, "must be a number") from None


def _column(fname: str, column: Any) -> int:
    if not isinstance(column, str) or column not in COL_INDEX:
        raise InvalidInput.field(fname, f"unknown column {column!r}; one of {', '.join(TRADE_COLUMNS)}")
    return COL_INDEX[column]


def _pair(fname: str, v: Any) -> list[Any]:
    if isinstance(v, str):
        v = [x for x in v.split(",")]
    if not isinstance(v, list) or len(v) != 2:
        raise InvalidInput.field(fname, "must be a pair [low, high]")
    return v


def _list(fname: str, v: Any) -> list[Any]:
    if isinstance(v, str):
        return [x for x in v.split(",") if x != ""]
    if not isinstance(v, list):
        raise InvalidInput.field(fname, "must be a list")
    return v


def _cmp(idx: int, op: Callable[[Any, Any], bool], val: Any) -> Predicate:
    def pred(row: list[Any]) -> bool:
        x = row[idx]
        try:
            return bool(op(x, val))
        except TypeError:
            return False

    return pred


def _build(kind: str, spec: Any) -> list[Predicate]:
    preds: list[Predicate] = []
    if kind == "where" and isinstance(spec, list):
        conds = spec if spec and isinstance(spec[0], list) else [spec]
        for cond in conds:
            if not isinstance(cond, list) or len(cond) not in (2, 3):
                raise InvalidInput.field("where", "must be an object or [column, op?, value] conditions")
            column, value = cond[0], cond[-1]
            op = "=" if len(cond) == 2 else cond[1]
            if op not in _OPS:
                raise InvalidInput.field("where", f"unknown operator {op!r}")
            idx = _column(f"where.{column}", column)
            preds.append(_cmp(idx, _OPS[op], _value(f"where.{column}", TRADE_COLUMNS[idx], value)))
        return preds
    if not isinstance(spec, dict):
        raise InvalidInput.field(kind, "must be an object {column: value}")
    for column, raw in spec.items():
        fname = f"{kind}.{column}"
        idx = _column(fname, column)
        col = TRADE_COLUMNS[idx]
        if kind in ("where", "whereNot"):
            val = _value(fname, col, raw)
            preds.append(_cmp(idx, operator.eq if kind == "where" else operator.ne, val))
        elif kind in ("whereIn", "whereNotIn"):
            vals = frozenset(_value(fname, col, x) for x in _list(fname, raw))
            inside = kind == "whereIn"
            preds.append(lambda row, i=idx, vs=vals, ins=inside: (row[i] in vs) == ins)  # type: ignore[misc]
        else:
            lo, hi = (_value(fname, col, x) for x in _pair(fname, raw))
            between = kind == "whereBetween"

            def pred(row: list[Any], i: int = idx, lo: Any = lo, hi: Any = hi, b: bool = between) -> bool:
                try:
                    return bool(lo <= row[i] <= hi) == b
                except TypeError:
                    return False

            preds.append(pred)
    return preds


def from_query_string(items: list[tuple[str, str]]) -> dict[str, Any]:
    """Turn query-string pairs into the JSON-body form (bracketed and JSON filters)."""
    out: dict[str, Any] = {}
    for key, value in items:
        base, _, rest = key.partition("[")
        if base in FILTERS and rest:
            column = rest.split("]", 1)[0]
            is_list = key.endswith("[]") and key.count("[") >= 2
            target = out.setdefault(base, {})
            if not isinstance(target, dict):
                raise InvalidInput.field(base, "mixes JSON and bracketed forms")
            if is_list:
                target.setdefault(column, []).append(value)
            else:
                target[column] = value
        elif base in FILTERS:
            try:
                out[base] = orjson.loads(value)
            except orjson.JSONDecodeError:
                raise InvalidInput.field(base, "must be JSON or bracketed (where[column]=value)") from None
        else:
            out[key] = value
    return out


def parse(params: Mapping[str, Any]) -> TradeQuery:
    q = TradeQuery(
        trade_type=_int("tradeType", params.get("tradeType"), 0, 4, 0),
        limit=_int("limit", params.get("limit"), 0, MAX_LIMIT, DEFAULT_LIMIT) or MAX_LIMIT,
        offset=_int("offset", params.get("offset"), 0, 10**12, 0),
    )
    for kind in FILTERS:
        spec = params.get(kind)
        if spec is None or spec == {} or spec == []:
            continue
        q.predicates.extend(_build(kind, spec))
    return q


def _total(rows: list[list[Any]], column: int) -> float:
    """An exact decimal sum of a money column (rows carry the amounts as JSON numbers)."""
    return float(sum((dec(r[column]) for r in rows), ZERO))


_HISTORY = {0: (S_CLOSED, S_CANCELLED, S_FINANCE), 2: (S_CLOSED, S_CANCELLED), 4: (S_FINANCE,)}


class Queries:
    def __init__(self, core: Core, margin: Margin) -> None:
        self.core = core
        self.margin = margin

    async def trades(self, acc: Account, query: TradeQuery) -> tuple[list[list[Any]], dict[str, Any]]:
        tt = query.trade_type
        m = self.margin
        rows: list[list[Any]] = []
        if tt in (0, 1):
            rows.extend(t.row(m.floating(acc, t), m.close_price(t)) for t in acc.positions.values())
        if tt in (0, 3):
            rows.extend(t.row() for t in acc.pending.values())
        statuses = _HISTORY.get(tt)
        if statuses:
            params = {"login": acc.login, "statuses": list(statuses)}
            history = await self.core.db.read(lambda c: list(c.execute(SEL_HISTORY, params).mappings().all()))
            rows.extend(trade_from_row(r).row() for r in history)
        rows = [r for r in rows if query.match(r)]
        rows.sort(key=lambda r: r[0])
        # TRADE_COLUMNS: profit 13, net_profit 14, commission 15, storage 16, volume 6
        totals = {
            "count": len(rows),
            "total_profit": _total(rows, 13),
            "total_net_profit": _total(rows, 14),
            "total_storage": _total(rows, 16),
            "total_commission": _total(rows, 15),
            "total_volume": sum(r[6] for r in rows),
        }
        return rows[query.offset : query.offset + query.limit], totals
