"""What to measure: sweeps (read from TOML presets, files and flags) and the configurations they expand to.

The lowest layer: it imports nothing else of bench. `Sweep` is the only reader of sweep files;
the command line's flags are `Overrides`, laid over a sweep file's mapping by `load_sweep`.
"""

from bench.config.bench_config import COMPILE_MODES, DEVICES, DTYPES, MODES, SCOPES, BenchConfig, ConfigError
from bench.config.sweep import AXES, Budget, ModelSpec, Overrides, Sweep, SweepError, Timing
from bench.config.sweep_file import PRESET_DIR, custom_sweep, list_presets, load_sweep, sweep_from_dict

__all__ = ["AXES", "COMPILE_MODES", "DEVICES", "DTYPES", "MODES", "PRESET_DIR", "SCOPES", "BenchConfig", "Budget",
           "ConfigError", "ModelSpec", "Overrides", "Sweep", "SweepError", "Timing", "custom_sweep", "list_presets",
           "load_sweep", "sweep_from_dict"]
