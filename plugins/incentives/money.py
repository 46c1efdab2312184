"""Exact money: :class:`decimal.Decimal` only, rounded half-even to cents at statement lines.

Rounding happens in exactly one place: when the calculator stamps a statement line, its exact
amount is rounded half-even to cents (:func:`cents` is that same rounding, for other uses). A
statement's total is the sum of its rounded lines, so lines always add up to the total to the
cent. Rates, credits and attainment are never rounded in computations (attainment is
rounded to two decimals for display only).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

ZERO = Decimal(0)
CENT = Decimal("0.01")
HUNDRED = Decimal(100)


def cents(value: Decimal) -> Decimal:
    """Round half-even ("banker's rounding") to cents: 0.125 → 0.12, 0.135 → 0.14."""
    return value.quantize(CENT, rounding=ROUND_HALF_EVEN)


def to_decimal(value: Any) -> Decimal:
    """Decimal from int, str or Decimal; floats go through ``repr`` (their shortest exact text)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise TypeError("a boolean is not an amount")
    if isinstance(value, float):
        return Decimal(repr(value))
    try:
        return Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValueError(f"{value!r} is not a decimal number") from exc


def pct(part: Decimal, whole: Decimal | None) -> Decimal | None:
    """``part / whole`` in percent, rounded half-even to 2 decimals for display; None if no whole."""
    if whole is None or whole == 0:
        return None
    return (part * HUNDRED / whole).quantize(CENT, rounding=ROUND_HALF_EVEN)


def plain(value: Decimal) -> Decimal:
    """Normalise the printed scale: integral values print as integers, others keep their digits."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()
