"""Shared fixtures. Real zoo models are converted once into the user's cache ($LLMPG_HOME) and
shared by every test that needs them (they are marked `slow`)."""
import pytest

from llm_playground import runtime

runtime.configure()


@pytest.fixture(scope="session", autouse=True)
def tiktoken_offline():
    """tiktoken's vocabularies in its cache from the registry packages, so `tiktoken.get_encoding`
    never reaches for the network, whichever test runs first."""
    from llm_playground import assets

    assets.ensure_tiktoken_vocabularies()


@pytest.fixture
def isolated_home(tmp_path, monkeypatch):
    """An empty $LLMPG_HOME (and tiktoken cache inside it) for tests that write caches."""
    monkeypatch.setenv("LLMPG_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "home" / "tiktoken"))
    return tmp_path / "home"


CHAT_TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
                 "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def write_tiny_chat_model(folder, *, seed: int = 0, corpus: str | None = None, add_bos: bool = False,
                          hidden: int = 32, intermediate: int = 64, context: int = 256, init_std: float | None = None):
    """A complete local chat-model folder in a second: a byte-level BPE tokenizer (trained here, with
    <|im_start|>/<|im_end|> special tokens and a chat template) and a random 2-layer Llama, saved as
    config.json + model.safetensors + tokenizer files, as a user would copy one.

    `corpus`: the text the tokenizer is trained on; `add_bos`: the tokenizer puts <|endoftext|> in
    front of every encoding (as Llama's and Gemma's do); `init_std`: redraw every weight but the norms
    from N(0, init_std²) (larger than transformers' init, so choices get clearly different scores)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    backend.train_from_iterator([corpus or "The capital of France is Paris. Hello world, tokens and models! " * 20],
                                trainer)
    if add_bos:
        backend.post_processor = processors.TemplateProcessing(single="<|endoftext|> $A",
                                                               special_tokens=[("<|endoftext|>", 0)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|im_end|>", bos_token="<|endoftext|>",
                                        unk_token="<|endoftext|>")
    tokenizer.chat_template = CHAT_TEMPLATE
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=intermediate,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=context, tie_word_embeddings=True, bos_token_id=0, eos_token_id=2)
    model = LlamaForCausalLM(config)
    if init_std is not None:
        with torch.no_grad():
            for name, param in model.named_parameters():
                if "norm" not in name:
                    param.normal_(0, init_std)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model_writer():
    """`write_tiny_chat_model` itself, for folders' fixtures that need variants (other text, a BOS)."""
    return write_tiny_chat_model


@pytest.fixture(scope="session")
def tiny_chat_model(tmp_path_factory):
    """Path (str) of a tiny local chat-model folder shared by the session (see write_tiny_chat_model)."""
    return str(write_tiny_chat_model(tmp_path_factory.mktemp("tiny-chat-model")))


@pytest.fixture
def one_thread():
    """Tiny models gain nothing from a second thread, and lose a lot on a busy machine
    (a folder's conftest makes it autouse for its tests)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
