"""The prompt lab: templates, few-shot selection, chain of thought, self-consistency, constrained
answers, task sets with exact answers, and runs that measure what each technique buys on a model.

    from llm_playground.prompting import LabConfig, run_lab, format_table
    run = run_lab(LabConfig(task="arithmetic", techniques=["zero-shot", "cot"], limit=10))
    print(format_table(run))
"""
from llm_playground.prompting.lab import (CellSummary, LabConfig, LabProgress, LabRun, format_table, iter_lab,
                                          load_run, plot_run, prepare, run_lab, save_run, wilson_interval)
from llm_playground.prompting.tasks import BUILTIN, TaskItem, TaskSet, load_task, read_task_file
from llm_playground.prompting.techniques import (DEFAULT_TEMPLATE, TECHNIQUES, ItemResult, PromptSettings, Technique,
                                                 make_technique, majority, run_item, select_examples)
from llm_playground.prompting.templates import PromptTemplate

__all__ = ["BUILTIN", "DEFAULT_TEMPLATE", "TECHNIQUES", "CellSummary", "ItemResult", "LabConfig", "LabProgress",
           "LabRun", "PromptSettings", "PromptTemplate", "TaskItem", "TaskSet", "Technique", "format_table", "iter_lab",
           "load_run", "load_task", "majority", "make_technique", "plot_run", "prepare", "read_task_file", "run_item",
           "run_lab", "save_run", "select_examples", "wilson_interval"]
