"""attnbench's harness, in layers (each imports only those below it):

    cli       command line: parsing, printing, exit codes
    display   report sections, plots, the end-of-run summary
    gate      the CI regression gate
    analysis  fits, series, scaling verdicts, claims, comparisons (no torch)
    run       worker processes, executors, sessions, budget, progress
    measure   timing, memory, FLOPs, environment, self-check (torch)
    results   identity, records, the results store and tables (no torch)
    config    sweeps and configurations
"""
