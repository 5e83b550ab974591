"""Survival: the time grid and discrete-time hazards, the censored likelihood, the
uncertainty band, visit features and tumour compartment volumes (torch only where a
function says so)."""
