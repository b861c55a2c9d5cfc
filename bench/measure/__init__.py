"""How one configuration is measured, in the process that runs it: timing, memory, FLOPs, the environment
fingerprint and the self-check of these instruments, and the registry of measurement passes
(`bench.measure.passes`) that `bench.measure.harness.measure` runs. Imports torch; imports config and
results only."""
