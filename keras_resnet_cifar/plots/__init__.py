"""Figures of the study (matplotlib `Figure`s, no pyplot state): one module per kind of figure."""
