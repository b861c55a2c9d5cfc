"""Regression gate for CI: compare a run with a stored baseline; fail on real regressions, not on noise.

Shared CI runners swing 10-30 % between runs, so "5 % slower than last week" cannot tell a regression
from a busy neighbour. Every check here leans on something such a swing cannot move.

Checks
------
scaling    Per series (one variant and setting, seq_len swept; see `bench.analysis.series` for the
           fixed-batch and fixed-tokens couplings) the log-log exponent of time and of peak activation
           memory per sequence over seq_len, from `bench.analysis.scaling.scaling_table` (least squares on
           the upper half of the log range, 95 % bootstrap CI over the raw samples). It FAILS when the
           CI's lower end is above the bound for that series: the variant's or model's policy entry, else
           the bound of the complexity class the layer declares for that metric ("linear", "quadratic";
           the scaling table's `expected`), else none. A uniformly slower machine leaves an exponent
           unchanged and noise only widens the interval, whereas a layer that turned quadratic moves the
           whole interval to about 2. A point estimate above the bound whose CI still reaches below it
           passes, and the reason says it is inconclusive. A series without a CI is skipped.
crossover  The seq_len from which a variant is faster than a reference at every larger length
           (`bench.analysis.crossovers`), for the pairs the policy lists. It FAILS when it moved past
           `max_factor` times the baseline's (2.0 allows the one grid step of a power-of-two sweep that
           noise can cause near the crossing), past `max_seq_len`, or out of a range long enough to
           have shown it.
relative   Each configuration's time as a ratio to the policy's reference variant (default sdpa) at the
           same shape in the same run, so the machine's speed cancels. Ratio samples are the raw samples
           divided by the reference's median. A configuration FAILS only if ALL hold:
           - its median ratio rose by more than `threshold`;
           - the time that costs at this run's speed, (ratio_now - ratio_baseline) * reference_median_now,
             exceeds `floor_s` (a 40 % rise of a 3 us kernel is not worth a red build);
           - a one-sided Mann-Whitney U test (ratio samples now greater than the baseline's) gives
             p < `alpha`, so sampling noise alone cannot fail;
           - its time also rose by more than `threshold` against the reference's median speed change
             over all sizes of the setting (now / baseline). One reference measurement drifts by a few
             per cent between runs like any other, and every ratio at its shape inherits that drift;
             this guard keeps one unlucky reference point from failing the build, while a layer that
             really got slower is slower against both. (Left out when the run shares no reference
             configuration with the baseline.)
           - the layer's median ratio change over all its sizes of the setting also exceeds `threshold`.
             On a shared CPU one configuration can switch to a slow mode for a whole run (a working set
             that straddles a cache shared with other tenants: softmax at N=512 was seen 37-79 % slower
             in both runs of a CI job, unchanged code); that cannot move the layer's median over its
             sizes, whereas a change to the layer's code shows at most of them.
           The reference's own configurations have no ratio; the absolute check covers them.
           On synthetic runs with a 0.8x-1.2x machine swing, 3 % per-configuration drift and spiky
           samples (tests/fixtures/gate_data.py) no noise-only run failed in 150, and 30 % more work in
           one layer was caught in 50 of 50, flagging about 70 % of its sizes.
absolute   Raw time against the baseline's, with the same rule (threshold, floor, significance and the
           layer's median time change over its sizes) and its own (looser) threshold, only when the
           run's hardware key (the results table's `hardware` column,
           `bench.results.identity.hardware_key`: the GPU, else the CPU model and core count) is one
           and equals the baseline's; otherwise one skipped line names both.

Several result files (or runs, told apart by run_id) are pooled: a baseline made from three runs holds
every run's samples and ratio samples (each run against its own reference), so the significance test
sees the run-to-run spread; that is the recommended way to make a baseline on shared runners.

Confirmation: when the run's table holds several runs (the sweep run twice in one CI job, given as two
result files), a failure of the pooled runs stands only if every run shows it on its own: scaling and
crossover checks are re-run per run; a speed failure needs its layer's median change over its sizes
past the threshold in each run alone (single configurations swing by tens of per cent between runs on
a shared CPU, so they are judged on the pooled samples; the layer's median moves by a few per cent).
A burst of contention during one run then does not fail the build; a regression in the code shows in
every run. On shared runners: two runs per job, baseline from three.

A configuration measured ok in the baseline that now ends in `error` fails its relative (or absolute)
check; oom, timeout or skipped ones, and ones missing from the run, are listed as skipped. A baseline
none of whose configurations appear in the run is an error (exit 2), not a pass.

Identity: configurations are keyed by `bench.results.identity.ConfigKey`, scaling series by
`SeriesKey`, crossovers by (SeriesKey, variant, reference); a CheckResult's `subject` is the key's
readable label, for display only.

Modules: `policy` (bench/gate/gate_policy.toml and its parsing; its comments document every key),
`baseline` (making, storing and loading the baseline; its docstring documents the file format),
`observed` (a results table indexed for the gate), `checks` (the four checks), `confirmation` (several
runs), `verdict` (CheckResult, GateReport), `evaluate` (`run_gate`). Rendering is
`bench.display.gate.render_gate_report`; the command line is `bench.cli.gate.run` (exit 0 pass,
1 regression, 2 bad input). Imports config, results and analysis only; never torch.
"""

from bench.gate.baseline import Baseline, load_baseline, make_baseline, save_baseline
from bench.gate.errors import GateError
from bench.gate.evaluate import run_gate
from bench.gate.policy import (
    DEFAULT_POLICY_PATH,
    CrossoverRule,
    GatePolicy,
    ModelRule,
    SpeedRule,
    load_policy,
    policy_from_dict,
)
from bench.gate.verdict import CheckResult, GateReport

__all__ = ["DEFAULT_POLICY_PATH", "Baseline", "CheckResult", "CrossoverRule", "GateError", "GatePolicy",
           "GateReport", "ModelRule", "SpeedRule", "load_baseline", "load_policy", "make_baseline",
           "policy_from_dict", "run_gate", "save_baseline"]
