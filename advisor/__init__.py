"""advisor: choose between prompting, RAG and LoRA fine-tuning by measuring all three.

`import advisor` stays light: torch, transformers, faiss and vllm load only where used.
"""

from advisor.errors import DataError, ProvisioningError, SpecError, UserError
from advisor.evaluation.record import ArmResult, RunRecord, read_record
from advisor.evaluation.runner import RunOptions, run_task
from advisor.spec import TaskSpec, load_task

__version__ = "0.1.0"

__all__ = [
    "ArmResult", "DataError", "ProvisioningError", "RunOptions", "RunRecord", "SpecError", "TaskSpec", "UserError",
    "__version__", "load_task", "read_record", "run_task",
]
