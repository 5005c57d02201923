"""dppnas: device-aware, Pareto-optimal neural architecture search on Ray Tune."""

__version__ = "0.1.0"
