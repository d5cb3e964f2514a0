"""llm-playground: learn how large language models work, hands on, with real models, offline."""
from llm_playground import runtime as _runtime  # sets offline mode before any hub library loads
from llm_playground.errors import PlaygroundError

__version__ = "0.1.0"
__all__ = ["PlaygroundError", "__version__"]
