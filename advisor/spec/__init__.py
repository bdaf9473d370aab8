"""Task specs: the strict schema and the loader that names file:line on every error."""

from advisor.spec.load import LoadedTask, load_task
from advisor.spec.model import ArmSpec, DataSpec, GenerationSpec, ModelSpec, SplitSpec, TaskSpec

__all__ = ["ArmSpec", "DataSpec", "GenerationSpec", "LoadedTask", "ModelSpec", "SplitSpec", "TaskSpec", "load_task"]
