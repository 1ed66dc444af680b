"""Mutant: features exp(ωᵀx̃ − ‖x̃‖²/2)/√m used as they are, without the max-subtraction that
cancels in the ratio (MATH 19): exp under- or overflows in float32 long before the attention
itself is ill-defined."""

import favor
from favor.validation import compute_dtype
from favor_suite.mutants._base import mutant, plain_linear_attention


def attention(q, k, v, w, *, kind, causal, key_mask, **options):
    def features(q, k, w):
        return favor.feature_map(q, w, kind=kind), favor.feature_map(k, w, kind=kind)

    return plain_linear_attention(
        q, k, v, w, features=features, causal=causal, key_mask=key_mask, dtype=compute_dtype(q.dtype)
    ).to(q.dtype)


IMPLEMENTATION = mutant("no_stabilizer", attention=attention, input_validation=False, gerf=False, chunk_option=None)
