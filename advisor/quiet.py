"""Quiet by default: silence third-party warnings and load bars a user cannot act on.

One place for it, called by the CLI before anything heavy is imported. Silenced unless
`-v`: FutureWarning/UserWarning/DeprecationWarning raised from transformers, peft, torch,
sentence-transformers, huggingface_hub and accelerate (e.g. the FutureWarning on every
adapter load); their INFO/WARNING log lines; and tqdm bars ("Loading weights", "Batches")
from those libraries. Our own progress (rich, advisor.progress) is untouched. The settings
are environment variables too, so a vLLM server started by a run inherits them.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

__all__ = ["THIRD_PARTY", "QUIET_ENV", "configure"]

THIRD_PARTY = ("transformers", "peft", "torch", "sentence_transformers", "huggingface_hub", "accelerate",
               "datasets", "vllm")
QUIET_ENV = {
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TQDM_DISABLE": "1",
    "VLLM_LOGGING_LEVEL": "WARNING",
}
_MODULES = r"(" + "|".join(THIRD_PARTY) + r")(\..*)?$"


def configure(verbose: bool = False) -> None:
    """Apply (or with verbose=True, skip) the quiet settings for this process and its children."""
    if verbose:
        return
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    for category in (FutureWarning, UserWarning, DeprecationWarning):
        warnings.filterwarnings("ignore", category=category, module=_MODULES)
    for name in THIRD_PARTY:
        logging.getLogger(name).setLevel(logging.ERROR)
    if "transformers" in sys.modules:  # imported already: the env vars were read at import time
        from transformers.utils import logging as tlog

        tlog.set_verbosity_error()
        tlog.disable_progress_bar()
