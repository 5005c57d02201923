"""Measuring and scoring latency models on a machine: the library behind ``dppnas profile``,
``latency-eval``, ``reanchor``, ``calibrate``, ``latency-transfer`` and ``devices``.

The device models themselves are in :mod:`dppnas.devices`; these modules build, check and
re-anchor them.
"""
