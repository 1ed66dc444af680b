"""properties: the Hypothesis property suite that gates a FAVOR implementation.

Infrastructure: ``implementation`` (the capability record and its loader), ``strategies``
(shapes, scales, structured inputs, seeds), ``assertions`` (message-building statistical and
exact assertions), ``budget`` (false-alarm accounting), ``plugin`` (pytest options, header,
verdict table). One ``test_*.py`` module per property area.
"""
