"""FLOP counts, as ``torch.utils.flop_counter.FlopCounterMode`` sees them (MATH 29-31).

The counter sees matmul-like ops only (a multiply-add counts 2), not exp, products or sums.
All counts are per batch element; multiply by the product of the leading dims.
"""

from __future__ import annotations

from favor_suite.reference.features import feature_width

__all__ = ["exact_attention_flops", "favor_forward_flops"]


def favor_forward_flops(
    length: int,
    d: int,
    m: int,
    dv: int,
    *,
    kind: str = "positive",
    causal: bool = False,
    chunk_size: int = 128,
) -> int:
    """Matmul FLOPs of one forward FAVOR pass (MATH 29-30, [P App. B.3]).

    Features: 2·L·d·m for q and for k. Bidirectional: K′ᵀ[V 1] and Q′(·), 2·L·F·(dv+1) each.
    Causal, per chunk of c rows: Q′_cK′_cᵀ (2c²F), its product with [V_c 1] (2c²(dv+1)), the
    carried state Q′_cS and the state update K′_cᵀ[V_c 1] (2cF(dv+1) each). F is the feature width.
    """
    features = feature_width(kind, m)
    total = 4 * length * d * m
    if not causal:
        return total + 4 * length * features * (dv + 1)
    for start in range(0, length, chunk_size):
        c = min(chunk_size, length - start)
        total += 2 * c * c * features + 2 * c * c * (dv + 1) + 4 * c * features * (dv + 1)
    return total


def exact_attention_flops(length_q: int, length_k: int, d: int, dv: int) -> int:
    """QKᵀ and AV: 2·Lq·Lk·(d + dv). (MATH 29)"""
    return 2 * length_q * length_k * (d + dv)
