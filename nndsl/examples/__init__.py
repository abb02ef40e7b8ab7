"""Example datasets for nndsl's specs, built from data bundled with common libraries."""
