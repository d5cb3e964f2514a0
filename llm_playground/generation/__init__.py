"""Generation: the config, the one token-yielding generator, backends, chat templates."""
from llm_playground.generation.api import Completion, GenerationRun, collect, generate, start_generation
from llm_playground.generation.chat import Message, PreparedPrompt, prepare_prompt
from llm_playground.generation.config import GenerationConfig
from llm_playground.generation.generator import Alternative, Step, generate_steps

__all__ = ["Alternative", "Completion", "GenerationConfig", "GenerationRun", "Message", "PreparedPrompt", "Step",
           "collect", "generate", "generate_steps", "prepare_prompt", "start_generation"]
