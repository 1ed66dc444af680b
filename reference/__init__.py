"""reference: exact softmax attention and the closed-form truths of ``shared/MATH.md``.

Modules: ``softmax`` (exact attention, naive feature attention), ``kernel_moments`` (means and
MSEs of kernel estimators, MATH 5-13, 21-23), ``output_moments`` (delta method, MATH 20),
``cost`` (FLOP counts, MATH 29-30), ``statistics`` (critical values and power, MATH 24-27).
"""
