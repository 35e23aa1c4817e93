"""The user simulator: response model, session sampler, user state and fidelity metrics.

Plain numpy/torch, no gymnasium: the envs package adapts it.
"""
