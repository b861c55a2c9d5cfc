"""Claims check: judged only at the source's configuration, from the spread between replicated passes, against
the published ratio less a stated allowance, with the FLOP bound beside it."""

from __future__ import annotations

from bench.analysis.claims import RATIO_RULE, RatioClaim, _evaluate, check_claims, mismatches
from bench.analysis.published import FIGURE2_SOURCE
from bench.analysis.replicates import config_table
from tests.fixtures.synthetic import Law, frame, passes, record, standard_frame, sweep

PAPER_NS = [128, 256, 512]
INFERENCE_VS_TRANSFORMER = "Fastformer is faster than Transformer (inference)"
FASTEST_LINEAR = "Fastformer is 2-3x faster than the fastest other linear method (inference)"
DRIFT = (1.0, 1.02, 0.98)  # three passes that differ by 2 %


def fig2(n: int) -> dict:
    """The paper's speed-test configuration at length n: width 256, 16 heads, 65,536 tokens per batch."""
    return {"seq_len": n, "batch": 65536 // n, "d_model": 256, "n_heads": 16}


def at_fig2(model: str, time_s: float, n: int = 128, drift=DRIFT, **kwargs):
    return passes(model, [time_s * d for d in drift], **fig2(n), **kwargs)


def _find(checks, claim_start, *, note_part=""):
    found = [c for c in checks if c.claim.startswith(claim_start) and note_part in c.note]
    assert found, f"no claim check starting with {claim_start!r} and note containing {note_part!r}"
    return found


def test_the_rule_is_stated():
    for phrase in ("different configuration", "lower bound", "allowance", "FLOP bound", "single pass"):
        assert phrase in RATIO_RULE


def test_a_large_speedup_measured_in_three_passes_supports_the_transformer_claim_for_softmax_and_sdpa():
    records = []
    for n, ratio in zip(PAPER_NS, (30, 85, 240), strict=True):
        records += at_fig2("fastformer", 1e-3, n)
        records += at_fig2("softmax", ratio * 1e-3, n, drift=(1.0, 0.99, 1.03))
        records += at_fig2("sdpa", ratio * 1e-3, n, drift=(1.01, 1.0, 0.97))
    checks = check_claims(frame(records))
    for reference in ("softmax", "sdpa"):
        check = _find(checks, INFERENCE_VS_TRANSFORMER, note_part=f"vs {reference}")[0]
        assert check.status == "supported"
        assert check.measured.startswith("30x (≥") and "@512" in check.measured
        assert check.published == "9.3x-46x at N=128, 256, 512"
        assert "published x 0.94" in check.note


def test_a_ratio_below_the_published_one_is_not_supported_even_when_it_is_half_of_it():
    # Paper: Longformer 33.9 / Fastformer 13.1 = 2.6x. Measured 1.3x: the old R/2 rule let it pass.
    df = frame(at_fig2("fastformer", 1e-3) + at_fig2("performer", 1.3e-3, drift=(1.0, 1.01, 0.99)))
    check = _find(check_claims(df), FASTEST_LINEAR)[0]
    assert check.status == "not supported" and check.measured.startswith("1.3x (≥1.")
    assert "fastformer vs performer;" in check.note


def test_the_lower_bound_comes_from_the_spread_between_passes():
    steady = frame(at_fig2("fastformer", 1e-3) + at_fig2("softmax", 9.0e-3, drift=(1.01, 1.0, 0.99)))
    noisy = frame(at_fig2("fastformer", 1e-3) + at_fig2("softmax", 9.0e-3, drift=(1.0, 1.4, 0.7)))
    low = [float(_find(check_claims(df), INFERENCE_VS_TRANSFORMER, note_part="vs softmax")[0]
                 .measured.split("≥")[1].split(")")[0]) for df in (steady, noisy)]
    assert low[1] < low[0] < 9.0


def test_one_pass_gives_no_bounds_and_no_verdict():
    df = frame([record("fastformer", [1e-3] * 5, **fig2(128)), record("softmax", [9e-2] * 5, **fig2(128))])
    check = _find(check_claims(df), INFERENCE_VS_TRANSFORMER, note_part="vs softmax")[0]
    assert check.status == "inconclusive" and check.measured == "90x@128"
    assert "one pass" in check.note and "not measured at N=256, 512" in check.note


def test_another_configuration_gets_no_verdict_and_says_what_differs():
    df = frame(at_fig2("fastformer", 1e-3) + at_fig2("linformer", 5e-3, options={"k": 256, "max_len": 512}))
    check = _find(check_claims(df), "Fastformer is faster than Linformer (inference)")[0]
    assert check.status == "different configuration" and check.measured == "-"
    assert "linformer k=256 (source: 16)" in check.note
    narrow = frame(passes("fastformer", [1e-3] * 3, seq_len=128, batch=512, d_model=64, n_heads=4)
                   + passes("softmax", [9e-2] * 3, seq_len=128, batch=512, d_model=64, n_heads=4))
    check = _find(check_claims(narrow), INFERENCE_VS_TRANSFORMER, note_part="")[0]
    assert check.status == "different configuration"
    assert "d_model=64 (source: 256)" in check.note and "n_heads=4 (source: 16)" in check.note


def test_a_configuration_matches_only_with_the_sources_tokens_width_heads_scope_and_options():
    configs = config_table(frame(at_fig2("linformer", 1e-3, options={"k": 16, "max_len": 512})
                                 + passes("linformer", [1e-3], seq_len=128, batch=256, d_model=256, n_heads=16,
                                          options={"k": 16}, scope="block")))
    rows = {(r["batch"], r["scope"]): mismatches(r, FIGURE2_SOURCE) for _, r in configs.iterrows()}
    assert rows[(512, "attention")] == []
    assert rows[(256, "block")] == ["tokens=32768 (source: 65536)", "scope block (source: attention)"]


def test_the_local_window_rows_match_figure2_only_at_the_tasks_window_16():
    configs = config_table(frame(at_fig2("bigbird", 1e-3, options={"block": 16}) + at_fig2("bigbird", 1e-3)
                                 + at_fig2("poolingformer", 1e-3, options={"window": 16})))
    found = sorted(tuple(mismatches(r, FIGURE2_SOURCE)) for _, r in configs.iterrows())
    assert found == [(), (), ("bigbird block=default (source: 16)",)]


def test_the_flop_bound_is_the_ratio_of_analytic_flops():
    df = frame(at_fig2("fastformer", 1e-3, flops=6 * 10**9) + at_fig2("softmax", 5e-3, flops=10 * 10**9))
    check = _find(check_claims(df), INFERENCE_VS_TRANSFORMER, note_part="vs softmax")[0]
    assert check.flop_bound == "1.7x@128"


def test_the_query_value_sharing_control_is_its_own_line():
    df = frame(at_fig2("fastformer", 1e-3) + at_fig2("fastformer", 1.3e-3, options={"share_qv": False})
               + at_fig2("softmax", 2e-3))
    paper = _find(check_claims(df), INFERENCE_VS_TRANSFORMER, note_part="vs softmax")[0]
    control = _find(check_claims(df), "control: Fastformer without query-value sharing vs Transformer (inference)",
                    note_part="vs softmax")[0]
    assert paper.measured.startswith("2x") and control.measured.startswith("1.5x")
    assert "fastformer[share_qv=False] vs softmax" in control.note


def test_overhead_bound_configurations_are_kept_out():
    # Fastformer at 1e-3 s doing 1e6 FLOPs (1 GFLOP/s) beside softmax at 1e12 FLOP/s: below 2 % of the best rate.
    df = frame(at_fig2("fastformer", 1e-3, flops=10**6) + at_fig2("softmax", 9e-3, flops=9 * 10**9))
    check = _find(check_claims(df), INFERENCE_VS_TRANSFORMER, note_part="")[0]
    assert check.status == "inconclusive" and "overhead-bound" in check.note


def test_an_unmeasured_mode_the_official_scorer_and_causal_rows_are_not_measured():
    checks = check_claims(standard_frame())  # forward only
    for check in _find(checks, "Fastformer is faster than Transformer (training)"):
        assert check.status == "not measured" and check.measured == "-"
    official = frame(at_fig2("fastformer", 1e-3, options={"scorer": "official"}) + at_fig2("softmax", 9e-2))
    assert _find(check_claims(official), INFERENCE_VS_TRANSFORMER)[0].status == "not measured"
    causal = frame(at_fig2("fastformer", 1e-3, causal=True) + at_fig2("softmax", 9e-2, causal=True))
    assert _find(check_claims(causal), INFERENCE_VS_TRANSFORMER)[0].status == "not measured"


def test_lra_claims_get_no_verdict_from_one_block_because_lra_times_a_whole_model():
    sizes = [1024, 2048, 4096]
    common = {"mode": "train", "batch": 32, "scope": "block"}
    df = frame(sweep("softmax", Law(1e-4, 1e-9, 2.0), sizes, memory_law=Law(0, 64.0, 2.0), **common)
               + sweep("linear", Law(1e-4, 1e-6, 1.0), sizes, memory_law=Law(0, 4096.0, 1.0), **common))
    for claim in ("Linear Transformer needs less training memory", "Linear Transformer trains faster"):
        check = _find(check_claims(df), claim)[0]
        assert check.status == "different configuration" and "scope block (source: model)" in check.note


def test_memory_ratios_are_exact_so_their_bounds_are_the_value():
    """Memory is measured once and has no spread: at the source's configuration its bounds are the ratio."""
    df = frame(at_fig2("fastformer", 1e-3, peak_bytes=10**6) + at_fig2("softmax", 2e-3, peak_bytes=4 * 10**6))
    spec = RatioClaim("memory", FIGURE2_SOURCE, "forward", {128: 3.0}, ("fastformer",), ("softmax",), "peak_bytes")
    ok = config_table(df).assign(overhead_bound=False)
    (check,) = _evaluate(ok, spec)
    assert check.measured == "4x (≥4)@128" and check.status == "supported"


def test_complexity_claims_follow_the_scaling_verdicts():
    checks = check_claims(standard_frame())
    assert _find(checks, "Fastformer costs O(N d)")[0].status == "supported"
    assert _find(checks, "Linformer costs")[0].status == "not measured"
    quadratic_fastformer = frame(sweep("fastformer", Law(0, 1e-9, 2.0), [512, 1024, 2048, 4096]))
    assert _find(check_claims(quadratic_fastformer), "Fastformer costs O(N d)")[0].status == "not supported"
    three_sizes = frame(sweep("fastformer", Law(0, 1e-9, 1.0), [1024, 2048, 4096]))
    check = _find(check_claims(three_sizes), "Fastformer costs O(N d)")[0]
    assert check.status == "inconclusive" and check.measured.startswith("too few sizes")


def test_every_check_has_a_valid_status_and_a_source():
    for check in check_claims(standard_frame()):
        assert check.status in {"supported", "not supported", "inconclusive", "different configuration",
                                "not measured"}
        assert check.source and check.published
