"""The checkpoint record: what a checkpoint the library wrote *is*, in one small JSON file beside its weights.

Every checkpoint the study and the recipes write holds `sft_vs_rl_checkpoint.json`: its task, method (base / init / sft
/ rl), dataset config, the model training started from, its step and its cumulative compute. `sft-vs-rl eval`,
`sft-vs-rl push` and the model card read it, so a user need not restate what the library already knows; flags given
on the command line override it. The file is written last and atomically, so its presence also marks a checkpoint
as complete (a run killed mid-save leaves a folder without it, which a resumed study does not trust).

Torch-free: it imports only the task table and the atomic writer.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sft_vs_rl.atomic import write_json
from sft_vs_rl.tasks import METHODS, TASK_NAMES

__all__ = ["RECORD_NAME", "CheckpointRecord", "read_checkpoint_record", "write_checkpoint_record"]

RECORD_NAME = "sft_vs_rl_checkpoint.json"
"""File name of the checkpoint record inside a checkpoint folder."""


@dataclass(frozen=True)
class CheckpointRecord:
    """What a checkpoint is.

    Args:
        task (`str`): `"gp-l"`, `"gp-vl"`, `"virl-l"` or `"virl-vl"`.
        method (`str`): `"base"`, `"init"`, `"sft"` or `"rl"`.
        dataset_config (`str`, *optional*): the dataset config it was trained on (e.g. `"gp-l-id"`).
        base_model (`str`, *optional*): the model training started from: a Hub id, or a tiny spec such as
            `"tiny:llama:nano"` for a base the library built and pretrained.
        step (`int`, *optional*): optimizer steps of the run that wrote it.
        gflops (`float`, *optional*): cumulative training compute in GFLOPs, counted from the start of Init (base
            pretraining not counted), as the results files count it.
        library_version (`str`, *optional*): `sft_vs_rl.__version__` of the writer.
    """

    task: str
    method: str
    dataset_config: str | None = None
    base_model: str | None = None
    step: int | None = None
    gflops: float | None = None
    library_version: str | None = None

    def __post_init__(self) -> None:
        if self.task not in TASK_NAMES:
            raise ValueError(f"CheckpointRecord: `task` is {self.task!r}; choose one of {list(TASK_NAMES)}.")
        if self.method not in METHODS:
            raise ValueError(f"CheckpointRecord: `method` is {self.method!r}; choose one of {list(METHODS)}.")
        if self.library_version is None:
            from sft_vs_rl import __version__

            object.__setattr__(self, "library_version", __version__)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "the record") -> CheckpointRecord:
        """A record from its JSON object; unknown or missing fields raise `ValueError` naming them and `source`."""
        if not isinstance(data, dict):
            raise ValueError(f"{source} must hold a JSON object, not {type(data).__name__}.")
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - fields)
        missing = sorted({"task", "method"} - set(data))
        if unknown or missing:
            raise ValueError(
                f"{source} is not a checkpoint record: unknown field(s) {unknown}, missing {missing}; a record holds "
                f"{sorted(fields)}. Delete the file (flags such as --task and --method then say what the checkpoint "
                "is) or rewrite it with `sft_vs_rl.models.record.write_checkpoint_record`."
            )
        try:
            return cls(**data)
        except ValueError as err:
            raise ValueError(f"{source}: {err}") from None


def write_checkpoint_record(folder: str | Path, record: CheckpointRecord) -> Path:
    """Write `record` into `folder` as `RECORD_NAME`, atomically. Returns the file's path."""
    return write_json(Path(folder) / RECORD_NAME, record.to_dict())


def read_checkpoint_record(folder: str | Path) -> CheckpointRecord | None:
    """The record of a checkpoint folder, or `None` if it holds none (a checkpoint from elsewhere).

    >>> read_checkpoint_record("no/such/folder") is None
    True
    """
    path = Path(folder) / RECORD_NAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); delete it or rewrite it.") from None
    return CheckpointRecord.from_dict(data, source=str(path))
