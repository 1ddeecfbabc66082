"""driftwise's core: plain functions of data and config, with no Prefect import.

Layers, lowest first: the vocabulary (``records``, ``windows``, ``durations``, ``settings``), the
``spec``; ``io``, ``metrics`` and ``store``; ``policy``, ``alerts`` and ``actions``; ``pipeline``.
``observability`` serves every layer. A module imports only from its own layer or below.
"""
