"""Environments with verifiers: GeneralPoints (GP-L, GP-VL) and V-IRL (V-IRL-L, V-IRL-VL)."""
