"""Mutant: favor's causal scan with one ``.detach()`` — the state a chunk receives from the earlier
chunks is used detached, as a hand-written backward that forgets to propagate the state gradient
would. The forward output is favor's, bit for bit; no gradient flows from a chunk's queries into
earlier chunks' keys and values, so dk and dv are wrong as soon as L exceeds the chunk."""

import torch

import favor
from favor.attention import _exp_gap
from favor_suite.mutants._base import mutant, prepared


def _scan(qb, kb, k_log, v1, chunk_size):
    """favor.attention._causal with the carried state detached (the one changed line is marked)."""
    batch, features, width = qb.shape[:-2], qb.shape[-1], v1.shape[-1]
    state = qb.new_zeros(*batch, features, width)
    ref_prev = qb.new_full(batch, float("-inf"))
    tril = torch.ones(chunk_size, chunk_size, dtype=torch.bool, device=qb.device).tril()
    outputs = []
    for start in range(0, qb.shape[-2], chunk_size):
        stop = min(start + chunk_size, qb.shape[-2])
        q_c, k_c, v_c = qb[..., start:stop, :], kb[..., start:stop, :], v1[..., start:stop, :]
        log_c = k_log[..., start:stop]
        ref = torch.maximum(torch.cummax(log_c.detach(), dim=-1).values, ref_prev.unsqueeze(-1))
        kf = k_c * _exp_gap(log_c, ref).unsqueeze(-1)
        size = stop - start
        decay = _exp_gap(ref.unsqueeze(-2), ref.unsqueeze(-1)).masked_fill(~tril[:size, :size], 0.0)
        carried = (q_c @ state.detach()) * _exp_gap(ref_prev.unsqueeze(-1), ref).unsqueeze(-1)  # the bug
        outputs.append(((q_c @ kf.transpose(-2, -1)) * decay) @ v_c + carried)
        ref_end = ref[..., -1]
        to_end = kf * _exp_gap(ref, ref_end.unsqueeze(-1)).unsqueeze(-1)
        state = state * _exp_gap(ref_prev, ref_end)[..., None, None] + to_end.transpose(-2, -1) @ v_c
        ref_prev = ref_end
    return torch.cat(outputs, dim=-2)


def attention(q, k, v, w, *, kind, causal, key_mask, chunk_size=128, **options):
    if not causal:
        return favor.favor_attention(q, k, v, w, kind=kind, causal=False, key_mask=key_mask)
    qb, kb, k_log, v, poison, out_dtype = prepared(q, k, v, w, kind=kind, causal=causal, key_mask=key_mask)
    num = _scan(qb, kb, k_log, torch.cat([v, torch.ones_like(v[..., :1])], dim=-1), chunk_size)
    out = num[..., :-1] / num[..., -1:]
    return out.masked_fill(poison, float("nan")).to(out_dtype)


IMPLEMENTATION = mutant(
    "chunk_state_gradient_dropped", attention=attention, input_validation=False, gerf=False, chunk_option="chunk_size"
)
