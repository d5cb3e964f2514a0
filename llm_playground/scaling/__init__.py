"""Scaling laws: Kaplan et al. 2020 and Chinchilla (Hoffmann et al. 2022), allocation, and fits.

    from llm_playground.scaling import check_model, optimal_allocation, CHINCHILLA
    check_model(175e9, 300e9).summary()        # GPT-3 against the compute-optimal frontier
    optimal_allocation(params=1e9).tokens      # ≈ 20.2e9, the paper's Table 3
"""
from llm_playground.scaling.allocation import (
    APPROACHES, CHINCHILLA_TABLE_3, Allocation, ModelCheck, PublishedOptimum, all_allocations,
    allocation_table, check_model, optimal_allocation,
)
from llm_playground.scaling.fit import PowerLawFit, fit_power_law, plot_power_law_fit
from llm_playground.scaling.laws import CHINCHILLA, KAPLAN, ChinchillaLaw, KaplanLaw, training_flops
from llm_playground.scaling.plots import plot_laws
from llm_playground.scaling.quantities import format_count, format_flops, parse_quantity

__all__ = [
    "APPROACHES", "CHINCHILLA", "CHINCHILLA_TABLE_3", "KAPLAN", "Allocation", "ChinchillaLaw", "KaplanLaw",
    "ModelCheck", "PowerLawFit", "PublishedOptimum", "all_allocations", "allocation_table", "check_model",
    "fit_power_law", "format_count", "format_flops", "optimal_allocation", "parse_quantity", "plot_laws",
    "plot_power_law_fit", "training_flops",
]
