"""reference: exact softmax attention and the closed-form truths the suite measures against.

The mathematics, with sources and derivations, is ``MATH.md`` beside this file; docstrings cite
its items as "MATH n". Modules: ``softmax`` (exact attention, naive feature attention),
``features`` and ``projections`` (naive float64 feature maps and the suite's own samplers),
``kernel_moments``, ``orf_series`` and ``estimator_moments`` (means, MSEs and higher moments of
the kernel estimators), ``output_moments`` (exact moments of the attention's numerator and
normalizer), ``cost`` (FLOP counts), ``statistics`` (critical values, power, median of means,
Edgeworth), ``rounding`` (Higham's bounds).
"""
