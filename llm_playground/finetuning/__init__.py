"""Fine-tuning lab: plans (exact parameter and memory counts), LoRA/QLoRA SFT and DPO over PEFT and
TRL with resumable checkpoints, merging into a local model, and before/after comparisons."""
import logging
import warnings

# bitsandbytes (imported by PEFT) logs at import that an optional hub kernel is missing; transformers
# warns about a renamed training argument TRL still sets. Neither is something a user can act on.
logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
warnings.filterwarnings("ignore", message=r".*is deprecated and will be removed in v6.*", category=FutureWarning)

from llm_playground.finetuning.plan import FinetunePlan, check_fits, format_plan, make_plan  # noqa: E402

__all__ = ["FinetunePlan", "check_fits", "format_plan", "make_plan"]
