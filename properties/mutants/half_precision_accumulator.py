"""Mutant: features and products in fp32 as favor does, but the sums over the sequence — the causal
prefix state and φ(K)ᵀ[V 1] — are kept in the input dtype (bf16/fp16), one chunk of 16 tokens
added at a time. Exact in exact arithmetic and fine at short L; at L in the thousands a term below
half an ulp of the running sum (2⁻⁹ relative in bf16) is lost, so late tokens stop counting."""

import torch

import favor
from favor.attention import _poison, _sanitize
from favor_suite.mutants._base import mutant
from favor_suite.reference.softmax import scaled

CHUNK = 16


def attention(q, k, v, w, *, kind, causal, key_mask, **options):
    keep = torch.ones(k.shape[:-1], dtype=torch.bool, device=k.device) if key_mask is None else key_mask
    poison = _poison(q, k, v, keep, causal)
    store = q.dtype
    q, k, v = (_sanitize(x.float()) for x in (q, k, v))
    qs, ks = (favor.split_features(scaled(x), w.float(), kind=kind) for x in (q, k))
    log_k = ks.log_scale.masked_fill(~keep, float("-inf"))
    kf = ks.base * torch.exp(log_k - log_k.amax(dim=-1, keepdim=True)).unsqueeze(-1)
    v1 = torch.cat([v, torch.ones_like(v[..., :1])], dim=-1)
    state = torch.zeros(*qs.base.shape[:-2], kf.shape[-1], v1.shape[-1], dtype=store, device=q.device)
    parts = []
    for start in range(0, q.shape[-2], CHUNK):
        q_c, k_c, v_c = (x[..., start : start + CHUNK, :] for x in (qs.base, kf, v1))
        if causal:
            parts.append((q_c @ k_c.transpose(-2, -1)).tril() @ v_c + q_c @ state.float())
        state = (state.float() + k_c.transpose(-2, -1) @ v_c).to(store)
    num = torch.cat(parts, dim=-2) if causal else qs.base @ state.float()
    out = (num[..., :-1] / num[..., -1:]).masked_fill(poison, float("nan"))
    return out.to(store)


IMPLEMENTATION = mutant(
    "half_precision_accumulator", attention=attention, input_validation=False, gerf=False, chunk_option=None
)
