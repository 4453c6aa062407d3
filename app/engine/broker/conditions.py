"""The 13 price-alert conditions, evaluated on each price change of the alert's symbol.

`p` is the new price of the alert's side (0 bid, 1 ask) and `prev` the price of that side just
before this change. Prices are compared after rounding to the symbol's digits, so a level is
reached on equality.

| # | name | fires when |
|---|---|---|
| 0 | Crossing Up | prev < target and p >= target |
| 1 | Crossing Down | prev > target and p <= target |
| 2 | Greater Than | p > target |
| 3 | Less Than | p < target |
| 4 | Entering Channel | prev outside [low, high] and p inside it (bounds inclusive) |
| 5 | Exiting Channel | prev inside [low, high] and p outside it |
| 6 | Inside Channel | low <= p <= high |
| 7 | Outside Channel | p < low or p > high |
| 8 | Moving Up | p - reference >= move_threshold (price units) |
| 9 | Moving Down | reference - p >= move_threshold |
| 10 | Moving Up % | (p - reference) / reference * 100 >= move_threshold |
| 11 | Moving Down % | (reference - p) / reference * 100 >= move_threshold |
| 12 | Crossing Either | condition 0 or condition 1 |

Level conditions (2, 3, 6, 7) are states rather than events: a repeating alert fires when the
state becomes true and re-arms once it has been false on a later price change, so it does
not fire on every tick. The reference price of the moving conditions is the side price when
the alert was created (or last updated, or last fired).
"""

from __future__ import annotations

CONDITION_NAMES = (
    "Crossing Up",
    "Crossing Down",
    "Greater Than",
    "Less Than",
    "Entering Channel",
    "Exiting Channel",
    "Inside Channel",
    "Outside Channel",
    "Moving Up",
    "Moving Down",
    "Moving Up %",
    "Moving Down %",
    "Crossing Either",
)
TARGET_CONDITIONS = frozenset({0, 1, 2, 3, 12})
CHANNEL_CONDITIONS = frozenset({4, 5, 6, 7})
MOVE_CONDITIONS = frozenset({8, 9, 10, 11})
LEVEL_CONDITIONS = frozenset({2, 3, 6, 7})


def _inside(p: float, low: float, high: float) -> bool:
    return low <= p <= high


def holds(
    condition: int,
    prev: float | None,
    p: float,
    *,
    target: float | None,
    low: float | None,
    high: float | None,
    threshold: float | None,
    reference: float | None,
    digits: int,
) -> bool:
    """Whether `condition` is met by the move prev → p (prev None: no previous price)."""
    if condition in TARGET_CONDITIONS:
        if target is None:
            return False
        if condition == 2:
            return p > target
        if condition == 3:
            return p < target
        if prev is None:
            return False
        up = prev < target <= p
        down = prev > target >= p
        return up if condition == 0 else down if condition == 1 else (up or down)
    if condition in CHANNEL_CONDITIONS:
        if low is None or high is None:
            return False
        now_in = _inside(p, low, high)
        if condition == 6:
            return now_in
        if condition == 7:
            return not now_in
        if prev is None:
            return False
        was_in = _inside(prev, low, high)
        return (not was_in and now_in) if condition == 4 else (was_in and not now_in)
    if condition in MOVE_CONDITIONS:
        if threshold is None or reference is None:
            return False
        if condition in (8, 9):
            move = p - reference if condition == 8 else reference - p
            # compare in points so that a move equal to the threshold counts
            scale = 10.0**digits
            return round(move * scale) >= round(threshold * scale)
        if reference == 0:
            return False
        pct = (p - reference if condition == 10 else reference - p) / reference * 100
        return pct >= threshold - 1e-9
    return False
