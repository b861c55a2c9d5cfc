"""Where a sweep runs: the `[executor]` table of a sweep file and the matching `run` flags.

    [executor]
    name = "local"                    # local (this machine), ray, slurm
    devices = "cuda:0,cuda:1"         # local: one worker per GPU ("all": every visible GPU)
    placement = "exclusive"           # exclusive: one configuration per device at a time; packed: several
    per_device = 2                    # packed: configurations sharing one device
    retries = 2                       # ray, slurm: times a crashed task is run again
    ray_address = "auto"              # ray: an existing cluster (default: start a local one)
    slurm_cluster = "slurm"           # slurm: submitit's slurm, local (subprocesses) or debug (in-process)
    slurm_partition = "gpu"
    slurm_time_min = 60               # per array task
    slurm_gpus_per_task = 1           # default: 1 when the sweep runs on CUDA, else 0
    slurm_cpus_per_task = 4
    slurm_array_parallelism = 16      # array tasks running at once
    slurm_exclusive = true            # whole nodes (default: true under placement exclusive)
    slurm_folder = "/shared/attnbench" # submitit's logs and the result shards (default: beside results)

Flags (`--executor`, `--devices`, `--placement`, ...) override the table; they do not change what is
measured, so they may be given with `--resume` too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

EXECUTORS = ("local", "ray", "slurm")
PLACEMENTS = ("exclusive", "packed")
SLURM_CLUSTERS = ("slurm", "local", "debug")


class ExecutorSettingsError(ValueError):
    """An `[executor]` value is invalid; the message names the field and what would be valid."""


@dataclass(frozen=True)
class ExecutorSettings:
    """Which executor runs the sweep and its options (see the module docstring)."""

    name: str = "local"
    devices: str | None = None
    placement: str = "exclusive"
    per_device: int | None = None
    retries: int = 2
    ray_address: str | None = None
    slurm_cluster: str = "slurm"
    slurm_partition: str | None = None
    slurm_time_min: int = 60
    slurm_gpus_per_task: int | None = None
    slurm_cpus_per_task: int | None = None
    slurm_array_parallelism: int = 16
    slurm_exclusive: bool | None = None
    slurm_folder: str | None = None

    def __post_init__(self) -> None:
        for label, value, allowed in (("name", self.name, EXECUTORS), ("placement", self.placement, PLACEMENTS),
                                      ("slurm_cluster", self.slurm_cluster, SLURM_CLUSTERS)):
            if value not in allowed:
                raise ExecutorSettingsError(f"executor.{label} must be one of {', '.join(allowed)}, got {value!r}")
        for label in ("per_device", "slurm_time_min", "slurm_cpus_per_task", "slurm_array_parallelism"):
            value = getattr(self, label)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ExecutorSettingsError(f"executor.{label} must be a positive integer, got {value!r}")
        for label in ("retries", "slurm_gpus_per_task"):
            value = getattr(self, label)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ExecutorSettingsError(f"executor.{label} must be an integer >= 0, got {value!r}")
        for label in ("devices", "ray_address", "slurm_partition", "slurm_folder"):
            value = getattr(self, label)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ExecutorSettingsError(f"executor.{label} must be a non-empty string, got {value!r}")
        if self.slurm_exclusive is not None and not isinstance(self.slurm_exclusive, bool):
            raise ExecutorSettingsError(f"executor.slurm_exclusive must be true or false, got "
                                        f"{self.slurm_exclusive!r}")
        if self.placement == "exclusive" and self.per_device not in (None, 1):
            raise ExecutorSettingsError(f"executor.per_device {self.per_device} shares a device, which placement "
                                        f"exclusive does not; use placement packed (--placement packed)")
        if self.devices is not None and self.name != "local":
            raise ExecutorSettingsError(f"executor.devices applies to the local executor; {self.name} places "
                                        f"configurations on its own devices")

    @classmethod
    def from_dict(cls, data: dict) -> ExecutorSettings:
        """Settings from an `[executor]` table; unknown keys are errors that list the valid ones."""
        if not isinstance(data, dict):
            raise ExecutorSettingsError("[executor] must be a table of name = value lines")
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ExecutorSettingsError(f"unknown [executor] key(s) {', '.join(unknown)}; valid keys: "
                                        f"{', '.join(known)}")
        return cls(**data)

    def to_dict(self) -> dict:
        """The `[executor]` table, without the values left at their default."""
        default = ExecutorSettings()
        return {k: v for k, v in asdict(self).items() if v != getattr(default, k)}

    def with_flags(self, **flags: object) -> ExecutorSettings:
        """These settings with every flag that was given (not None) laid over them."""
        given = {k: v for k, v in flags.items() if v is not None}
        return replace(self, **given) if given else self
