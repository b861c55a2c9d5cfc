"""What was measured: identity (the keys), record (one result), store (the JSONL file), table (pandas).

Imports config only; never torch. Modules are imported by name (`bench.results.record`), so a worker
that writes records does not pay for pandas.
"""
