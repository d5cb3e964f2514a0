"""Training lab: n-gram baselines, the cross-entropy / perplexity explainer, and the neural trainer
(config and presets, data, checkpoints, the loop, samples, plots, experiments).

    from llm_playground.training import train, train_config
    result = train(train_config("cpu-tiny", max_steps=500, out="runs/tiny"))
    print(result.report())
"""
from llm_playground.training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from llm_playground.training.config import TRAIN_PRESETS, TrainConfig, list_train_presets, train_config
from llm_playground.training.data import Batches, prepare_data, read_corpus
from llm_playground.training.sample import sample_text, stream_sample
from llm_playground.training.trainer import Evaluation, Trainer, TrainResult, train

__all__ = [
    "Batches", "Checkpoint", "Evaluation", "TRAIN_PRESETS", "TrainConfig", "TrainResult", "Trainer",
    "list_train_presets", "load_checkpoint", "prepare_data", "read_corpus", "sample_text", "save_checkpoint",
    "stream_sample", "train", "train_config",
]
