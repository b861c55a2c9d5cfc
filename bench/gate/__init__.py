"""Regression gate for CI: compare a run with a stored baseline; fail on real regressions, not on noise.

Shared CI runners swing 10-30 % between runs, and single configurations by up to 2x between passes, so
"5 % slower than last week" cannot tell a regression from a busy neighbour. Every check here leans on
something such a swing cannot move, and is tested on run-level replicates: one (run, pass) median per
configuration (sweeps run `passes` replicated passes; samples inside a pass are autocorrelated and say
little about the next run, so they are never tested as independent).

Checks (bench.gate.verdict.KINDS, in display order)
-------------------------------------------------
status     A configuration ok in the baseline that now ended timeout, oom, error or skipped FAILS by
           name. A timeout or budget skip is a WARNING instead when the machine-speed probe
           (bench.measure.probe: a GEMM at the sweep's width, measured before every pass of the run)
           says this machine is slower (by > 5 %) and that slowdown explains it: the baseline's
           measurement time (timeout) or time per call (skip, against the prediction that skipped it)
           scaled by the slowdown reaches what happened, within 10 %. (A memory-budget skip is judged
           by its time prediction too: the gate does not know the budgets.) A size skipped
           because a shorter one of its series failed takes that one's verdict. Missing configurations
           are one skipped line.
scaling    Per series (one variant and setting, seq_len swept; see `bench.analysis.series`) the log-log
           exponent of time and of peak memory over seq_len, with the honest 95 % interval of
           `bench.analysis.fits` (pass medians, per-size drift and lack of fit). It FAILS when the whole
           interval is above the bound (the variant's or model's policy entry, else the bound of the
           complexity class the layer declares), or when the 95 % interval of its rise over the
           baseline's exponent (standard errors of both fits combined, t quantile at the smaller fit's
           degrees of freedom) lies wholly above `scaling.max_increase` (0.1). Series are matched with
           the baseline's on another device too.
crossover  The seq_len from which a variant is faster than a reference at every larger length, for the
           pairs the policy lists; FAILS when it moved past `max_factor` x the baseline's or
           `max_seq_len`, or out of a range long enough to have shown it.
reference  Whether the reference itself moved: when every other layer's median ratio change over its
           sizes (two layers at least) is beyond `moving_reference.threshold` in one direction (above
           +15 %, or below 1/1.15 - 1), the reference moved, not they (one regressed layer moves only its
           own ratios). It is a WARNING ("sdpa moved by -30 % against the other layers ...:
           re-baseline"), and a relative failure in that setting also needs the layer's own time (as in
           `absolute`) to have risen past the threshold, so every layer is still judged.
relative   Each configuration's ratio to the reference (default sdpa) at the same shape in the same run
           and pass, against the baseline's. It FAILS only if ALL hold:
           - the median ratio rose by more than `threshold` (25 %);
           - that costs more than `floor_s` per call at this run's speed;
           - a one-sided exact Mann-Whitney test of the pass ratios (now greater), Benjamini-Hochberg
             adjusted over the layer's sizes, gives q < `alpha` (0.01);
           - its time also rose by more than `threshold` against the reference's median speed change
             over all sizes of the setting (one drifting reference measurement cannot fail every layer
             at its shape);
           - for a size in the SHORT half of the layer's range (log N below the midpoint), the layer's
             median change over all its sizes also exceeds `threshold`: a small working set can sit in
             a slow cache mode for a whole run (softmax at N=512 was seen 37-79 % slower in both runs
             of a CI job, unchanged code). Sizes in the LONG half, the regime this benchmark exists
             for, are judged size by size, so a regression confined to the longest sizes fails. On
             hardware other than the baseline's every size needs the layer's median: ratios there
             move size by size with the other CPU's caches.
absolute   Each configuration's time against the baseline's, same rule with its own threshold (40 %),
           on the baseline's hardware only (the results table's `hardware` column). The change is the
           smaller of the change in seconds and in probe-normalised units (seconds x the run's probe
           rate): a regression raises both, a slower machine only the first, and a probe that caught
           the machine in a fast moment only the second (the probe's rate moved by up to 40 % between
           runs here while the layers' times did not). A machine faster than the baseline's hides part of
           a regression here; the relative check does not depend on it.
shared     The median time change over every configuration: a regression in code every layer shares,
           which ratios cannot see. On the baseline's hardware as for `absolute`; on other hardware in
           probe-normalised units (the only link between two machines), where `shared.other_hardware`
           = "report" makes it a warning instead of a failure. FAILS above `shared.threshold` (30 %).

Confirmation: when the table holds several runs (the sweep run twice in one CI job, given as two result
files), a failure of the pooled runs stands unless some run alone passes it (a run alone that only
warns makes it a warning; one that skips it does not overturn it), judged with every
criterion but significance (one run has too few passes to test): point estimates for exponents, and
for a long size the larger of its change and its layer's long-half median change. A burst of contention
in one run then does not fail the build; a regression in the code shows in every run. Recommended on
shared runners: `passes = 5`, two runs per job, a baseline from three runs.

False alarms of the significance test alone, on unchanged code (the share of relative and absolute
checks with q < 0.01): 0.5 % on synthetic runs with per-run, per-pass and autocorrelated per-sample noise
and a 0.8x-1.2x machine swing (tests/bench/gate/test_checks.py); on real back-to-back runs on this
project's 2-core machine see reports/gate-proof-cpu.md. Testing pooled samples instead called 12.8 % of
synthetic and 31 % of real configurations slower at p < 0.01.

A baseline none of whose configurations appear in the run is an error (exit 2), not a pass; so is a
model name in the policy that is neither registered nor in the run or baseline (the command line checks
names, e.g. `[models.fastformr]`, with the closest valid one).

Identity: configurations are keyed by `bench.results.identity.ConfigKey`, scaling series by
`SeriesKey`, crossovers by (SeriesKey, variant, reference); a CheckResult's `subject` is the key's
readable label, for display only.

Modules: `policy` (bench/gate/gate_policy.toml and its parsing; its comments document every key),
`baseline` (making, storing and loading the baseline; its docstring documents the file format),
`observed` (a results table indexed for the gate: replicates per configuration), `status`, `scaling`
and `speed` (the checks), `checks` (all of them in order), `confirmation` (several runs), `verdict`
(CheckResult, GateReport), `evaluate` (`run_gate`). Rendering (text, JSON, JUnit XML) is
`bench.display.gate`; the command line is `bench.cli.gate.run` (exit 0 pass, 1 regression, 2 bad
input). Imports config, results and analysis only; never torch.
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
