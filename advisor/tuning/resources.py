"""What one unit of work asks of a cluster: CPUs, GPUs and memory per arm and per trial.

Each arm declares its needs by family (a strategy class may override them with a
`resources(config, spec)` classmethod returning `Resources`):
- prompting and classical arms: 1 CPU; they share the run's serving backend, which holds
  the GPU (a Ray actor or an attached server), so they ask for none themselves;
- retrieval arms (rag, knn-shot): 2 CPUs, because embedding the corpus is CPU-bound;
- training arms (lora, the LoRA hybrids, full-ft): 1 GPU when the cluster has one, else CPUs.
Memory is a scheduling hint in GiB (Ray reserves it logically; it does not cap the process).
The numbers are declared needs, not measurements: `fit` shrinks them to what the cluster has
(no GPU on a CPU cluster, never more CPUs or memory than the largest node), so a unit is never
left unschedulable.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Resources", "resources_for", "fit", "TRAINING", "RETRIEVAL"]

TRAINING = frozenset({"lora", "knn-lora", "rag-lora", "full-ft"})
RETRIEVAL = frozenset({"rag", "knn-shot", "knn-lora", "rag-lora"})


@dataclass(frozen=True)
class Resources:
    cpus: float = 1.0
    gpus: float = 0.0  # wanted when the cluster has GPUs; 0 on a CPU-only cluster after `fit`
    memory_gb: float = 1.0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def resources_for(strategy: str, config: Any = None, spec: Any = None, *, kind: str = "arm") -> Resources:
    """The declared needs of one arm (kind "arm") or one tuning trial of it (kind "trial")."""
    from advisor import registry

    if strategy in registry.strategies:
        hook = getattr(registry.strategies.get(strategy), "resources", None)
        if callable(hook):
            declared = hook(config, spec)
            if isinstance(declared, Resources):
                return declared
    cpus, gpus, memory = 1.0, 0.0, 1.0
    if strategy in RETRIEVAL:
        cpus, memory = 2.0, 2.0  # embedding a corpus; the index lives in memory
    if strategy in TRAINING:
        gpus, memory = 1.0, (16.0 if strategy == "full-ft" else 8.0)  # weights + optimizer state + activations
    if kind == "trial" and strategy not in TRAINING:
        cpus = 1.0  # a trial's corpus index is cached by content after the first trial builds it
    return Resources(cpus=cpus, gpus=gpus, memory_gb=memory)


def fit(declared: dict[str, float] | Resources, cluster: dict[str, float], largest_node: dict[str, float] | None = None
        ) -> tuple[dict[str, float], list[str]]:
    """Ray task options for `declared` on a cluster with these resources (Ray's names: CPU, GPU,
    memory in bytes), and notes on what was shrunk."""
    want = declared.as_dict() if isinstance(declared, Resources) else dict(declared)
    node = largest_node or cluster
    notes = []
    cpus = float(want.get("cpus", 1.0))
    max_cpus = float(node.get("CPU", 1.0))
    if cpus > max_cpus:
        notes.append(f"{cpus:g} CPUs wanted, the largest node has {max_cpus:g}")
        cpus = max_cpus
    options: dict[str, float] = {"num_cpus": cpus}
    gpus = float(want.get("gpus", 0.0))
    if gpus and float(cluster.get("GPU", 0.0)) > 0:
        options["num_gpus"] = min(gpus, float(node.get("GPU", gpus)))
    elif gpus:
        notes.append("a GPU wanted, the cluster has none: runs on CPUs")
    memory = float(want.get("memory_gb", 0.0)) * 1024 ** 3
    max_memory = float(node.get("memory", 0.0))
    if memory and max_memory and memory <= max_memory:
        options["memory"] = memory
    elif memory:
        notes.append(f"{want['memory_gb']:g} GiB wanted, the largest node offers {max_memory / 1024 ** 3:.1f}: "
                     "not reserved")
    return options, notes
