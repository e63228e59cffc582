"""concur: continual constrained and unconstrained LLM routing (library behind the CLI scripts)."""

__version__ = "0.1.0"
