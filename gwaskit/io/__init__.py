"""Genotype, table and summary-statistics input/output."""
