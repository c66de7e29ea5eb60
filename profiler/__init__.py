"""aicarbon: energy and emissions profiler for AI workloads."""

__version__ = "0.1.0"
