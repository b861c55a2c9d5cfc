"""What the numbers say: series, fits and scaling verdicts, crossovers, capacity, throughput, claims and
run-to-run comparison, all on results tables (bench.results.table). Never imports torch, run or cli."""
