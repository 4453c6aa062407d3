"""Routers translate wire <-> domain and nothing else."""
