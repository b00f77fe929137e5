"""Computation that knows nothing of AnnData, beside :mod:`scsaliency.nn` (numpy, scipy, pandas).

* :mod:`.stats`: expression-matched null sets, Welch and paired tests, BH adjustment;
* :mod:`.matching`: programs as unit vectors, one-to-one matching on the cosine;
* :mod:`.consensus`: clusters of repeated runs' programs, per-set consensus labels;
* :mod:`.labels`: which set a unit carries, near-ties, the units table's rule.

The tools (:mod:`scsaliency.tl`) call these on arrays they read through
:mod:`scsaliency._stored`; nothing here imports from the layers above.
"""
