"""Splitting pass revenue among operators, to the yen (pure).

Each product's revenue for the period is split among the operators the product covers: a fixed
base share in equal parts, and the rest in proportion to the accepted validations of that
product's passes on each operator, each validation weighted by the operator's configured
weight (for example its average distance per boarding, in km). The exact shares are fractions;
:func:`largest_remainder` turns them into whole yen that add up to the revenue exactly.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
UNALLOCATED = "(unallocated)"  # revenue of a product that names no operator


def largest_remainder(total: int, weights: Mapping[K, Fraction | int]) -> dict[K, int]:
    """Split ``total`` yen in proportion to ``weights``; the parts add up to ``total``.

    Every part is its exact quota rounded down; the yen left over go one each to the largest
    remainders (ties: the earlier key in ``weights``). All-zero weights split equally.
    """
    if total < 0:
        raise ValueError("total must not be negative")
    if any(weight < 0 for weight in weights.values()):
        raise ValueError("weights must not be negative")
    if not weights:
        if total:
            raise ValueError("nothing to split the total among")
        return {}
    weight_sum = sum(weights.values(), Fraction(0))
    quotas = {
        key: (Fraction(total) * weight / weight_sum if weight_sum else
              Fraction(total, len(weights)))
        for key, weight in weights.items()
    }
    parts = {key: math.floor(quota) for key, quota in quotas.items()}
    left = total - sum(parts.values())
    order = list(weights)
    ranked = sorted(order, key=lambda key: (-(quotas[key] - parts[key]), order.index(key)))
    for key in ranked[:left]:
        parts[key] += 1
    return parts


@dataclass(frozen=True)
class Share:
    """One operator's part of the revenue."""

    operator: str
    yen: int
    base: Fraction  # exact yen from the base share
    usage: Fraction  # exact yen from validations
    validations: int  # accepted validations counted for this operator
    weighted: Fraction  # validations × weight


@dataclass(frozen=True)
class Apportionment:
    """The split of ``revenue_yen``; the shares' ``yen`` add up to it."""

    revenue_yen: int
    shares: list[Share]


def apportion(
    revenue: Mapping[str, int],
    operators: Mapping[str, Sequence[str]],
    validations: Mapping[tuple[str, str], int],
    *,
    base_share: Fraction,
    weights: Mapping[str, Fraction] | None = None,
) -> Apportionment:
    """Split each product's revenue among its operators, then round the sums to the yen.

    ``revenue`` is yen per product, ``operators`` the operators each product covers,
    ``validations`` accepted validations per (product, operator); ``weights`` default to 1.
    Validations on operators a product does not cover are ignored. A product without
    validations in the period splits its usage part like its base part (equally).
    """
    if not 0 <= base_share <= 1:
        raise ValueError("base_share must be between 0 and 1")
    weights = weights or {}
    base: dict[str, Fraction] = {}
    usage: dict[str, Fraction] = {}
    counted: dict[str, int] = {}
    weighted_total: dict[str, Fraction] = {}
    for product, product_yen in revenue.items():
        members = list(dict.fromkeys(operators.get(product, ()))) or [UNALLOCATED]
        for operator in members:
            base.setdefault(operator, Fraction(0))
            usage.setdefault(operator, Fraction(0))
            counted.setdefault(operator, 0)
            weighted_total.setdefault(operator, Fraction(0))
        base_part = Fraction(product_yen) * base_share
        for operator in members:
            base[operator] += base_part / len(members)
        weighted = {
            operator: validations.get((product, operator), 0) * weights.get(operator, Fraction(1))
            for operator in members
        }
        for operator in members:
            counted[operator] += validations.get((product, operator), 0)
            weighted_total[operator] += weighted[operator]
        usage_part = Fraction(product_yen) - base_part
        weight_sum = sum(weighted.values(), Fraction(0))
        for operator in members:
            usage[operator] += (usage_part * weighted[operator] / weight_sum if weight_sum
                                else usage_part / len(members))
    total = sum(revenue.values())
    exact = {operator: base[operator] + usage[operator] for operator in base}
    yen = largest_remainder(total, exact)
    shares = [
        Share(operator, yen[operator], base[operator], usage[operator], counted[operator],
              weighted_total[operator])
        for operator in sorted(exact)
    ]
    return Apportionment(revenue_yen=total, shares=shares)
