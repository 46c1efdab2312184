"""Exact allocation of a total over weights (largest-remainder method).

Every share is a whole number of ``quantum`` (0.01 for money, 1 for counts) and the shares add up
to the total *exactly*: the total is split in units of the quantum, each part gets the floor of
its exact (rational) share, and the units left over go one each to the parts with the largest
remainders (ties: the larger weight, then the earlier part). Nothing goes through float.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction

CENT = Decimal("0.01")
UNIT = Decimal(1)


class AllocationError(ValueError):
    pass


def _exponent(d: Decimal) -> int:
    exp = d.as_tuple().exponent
    return exp if isinstance(exp, int) else 0


def allocate(total: Decimal, weights: Sequence[Decimal | Fraction | int],
             quantum: Decimal = CENT) -> list[Decimal]:
    """Split ``total`` over ``weights`` (non-negative; all zero means equal shares)."""
    n = len(weights)
    if n == 0:
        raise AllocationError("nothing to allocate to")
    if not total.is_finite():
        raise AllocationError(f"cannot allocate {total}")
    if total < 0:
        raise AllocationError(f"cannot allocate a negative total {total}")
    fw = [Fraction(w) for w in weights]
    if any(w < 0 for w in fw):
        raise AllocationError("weights must not be negative")
    if sum(fw) == 0:
        fw = [Fraction(1)] * n
    wsum = sum(fw)
    # A total finer than the quantum (e.g. 10.005 in cents) is split in its own finest digit.
    q = quantum
    units = Fraction(total) / Fraction(q)
    if units.denominator != 1:
        q = Decimal(1).scaleb(min(_exponent(total), _exponent(quantum)))
        units = Fraction(total) / Fraction(q)
    whole = int(units)
    exact = [whole * w / wsum for w in fw]
    floors = [int(e) for e in exact]  # exact >= 0, so int() is floor
    left = whole - sum(floors)
    order = sorted(range(n), key=lambda i: (-(exact[i] - floors[i]), -fw[i], i))
    for i in order[:left]:
        floors[i] += 1
    out = [Decimal(f) * q for f in floors]
    assert sum(out, Decimal(0)) == total, (total, out)
    return out


def rebalance(total: Decimal, current: Sequence[Decimal], quantum: Decimal = CENT) -> list[Decimal]:
    """Scale ``current`` shares to a new ``total``, keeping their proportions."""
    return allocate(total, [max(c, Decimal(0)) for c in current], quantum)
