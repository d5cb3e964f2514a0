"""The model zoo: registry of names, one-time conversion into the cache, and shared loading."""
from llm_playground.zoo.loading import (LoadedModel, check_prompt_fits, eos_token_ids, is_loaded, load_hf_model,
                                        load_model, load_sentence_transformer, load_tokenizer, meta_model, model_dir,
                                        read_json_file, remote_spec, require_local, resolve)
from llm_playground.zoo.prepare import cache_dir, cache_state
from llm_playground.zoo.registry import MODELS, ModelSpec, get_spec, licence_notice, list_models

__all__ = ["MODELS", "LoadedModel", "ModelSpec", "cache_dir", "cache_state", "check_prompt_fits", "eos_token_ids",
           "get_spec", "is_loaded", "licence_notice", "list_models", "load_hf_model", "load_model",
           "load_sentence_transformer", "load_tokenizer", "meta_model", "model_dir", "read_json_file", "remote_spec",
           "require_local", "resolve"]
