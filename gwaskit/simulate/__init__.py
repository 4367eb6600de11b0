"""Cohort simulation: genotypes with realistic LD (msprime), latent traits, disease labels, an
external GWAS from a disjoint cohort, and related cohorts (sibling pairs, trios) with polygenic
multi-trait backgrounds.

msprime/tskit are optional (``pip install gwaskit[sim]``) and imported only when genotypes are
simulated.
"""
from .cohort import SimulatedCohort, simulate_cohort
from .families import (
    FamilyCohortConfig,
    SimulatedFamilies,
    simulate_families,
    simulate_family_cohort,
    transmit,
)
from .genotypes import (
    SimulatedGenotypes,
    adjacent_r2,
    allele_frequencies,
    minor_allele_frequencies,
    simulate_genotypes,
    write_bgen,
)
from .gwas import gwas_sumstats, linear_regression, population_design, write_sumstats
from .traits import (
    SimulatedTrait,
    choose_causal,
    latent_trait,
    liability_threshold,
    simulate_trait,
    standardize,
)

__all__ = [
    "SimulatedCohort", "simulate_cohort", "SimulatedGenotypes", "adjacent_r2", "allele_frequencies",
    "minor_allele_frequencies", "simulate_genotypes", "write_bgen", "gwas_sumstats",
    "linear_regression", "population_design", "write_sumstats", "SimulatedTrait", "choose_causal",
    "latent_trait", "liability_threshold", "simulate_trait", "standardize", "FamilyCohortConfig",
    "SimulatedFamilies", "simulate_families", "simulate_family_cohort", "transmit",
]
