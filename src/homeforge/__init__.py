"""homeforge: private LLM infrastructure on your own machines, converged by Ansible."""

__version__ = "0.1.0"
