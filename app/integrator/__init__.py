"""Integrator tools (CONTRACT §7): client coverage and seeded chaos."""
