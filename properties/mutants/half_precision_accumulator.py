"""Mutant: features and products in fp32 as favor does, but the sums over the sequence — the causal
prefix state and φ(K)ᵀ[V 1] — are kept in the input dtype (bf16/fp16), one chunk of 16 tokens
added at a time (keys against one reference, their max over the sequence). Exact in exact
arithmetic and fine at short L; at L in the thousands a term below half an ulp of the running sum
(2⁻⁹ relative in bf16) is lost, so late tokens stop counting."""

import torch

from favor_suite.mutants._base import mutant, prepared

CHUNK = 16


def attention(q, k, v, w, *, kind, causal, key_mask, **options):
    qb, kb, log_k, v, poison, store = prepared(q, k, v, w, kind=kind, causal=causal, key_mask=key_mask)
    kf = kb * torch.exp(log_k - log_k.amax(dim=-1, keepdim=True)).unsqueeze(-1)
    v1 = torch.cat([v, torch.ones_like(v[..., :1])], dim=-1)
    state = torch.zeros(*qb.shape[:-2], kf.shape[-1], v1.shape[-1], dtype=store, device=qb.device)
    parts = []
    for start in range(0, qb.shape[-2], CHUNK):
        q_c, k_c, v_c = (x[..., start : start + CHUNK, :] for x in (qb, kf, v1))
        if causal:
            parts.append((q_c @ k_c.transpose(-2, -1)).tril() @ v_c + q_c @ state.to(qb.dtype))
        state = (state.to(qb.dtype) + k_c.transpose(-2, -1) @ v_c).to(store)
    num = torch.cat(parts, dim=-2) if causal else qb @ state.to(qb.dtype)
    out = (num[..., :-1] / num[..., -1:]).masked_fill(poison, float("nan"))
    return out.to(store)


IMPLEMENTATION = mutant(
    "half_precision_accumulator", attention=attention, input_validation=False, gerf=False, chunk_option=None
)
