"""Shared pieces of the benchmarks: result files with enforced gates, load clients, server launchers.

Run as ``python benchmarks/<name>.py``, a benchmark has ``benchmarks/`` as ``sys.path[0]``, so it imports
``harness`` directly; tests reach the same package through pytest's ``pythonpath`` setting.
"""
