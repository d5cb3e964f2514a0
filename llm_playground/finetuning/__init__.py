"""Fine-tuning lab: plans (exact parameter and memory counts), LoRA/QLoRA SFT and DPO over PEFT and
TRL with resumable checkpoints, merging into a local model, and before/after comparisons."""
from llm_playground.finetuning.plan import FinetunePlan, check_fits, format_plan, make_plan

__all__ = ["FinetunePlan", "check_fits", "format_plan", "make_plan"]
