"""Turning a stream of token ids into a stream of text, and stopping at stop strings."""
from __future__ import annotations


class IncrementalDetokenizer:
    """Text for each new token, correct across tokens that split a multi-byte character.

    Decodes the ids from the previous emission point on (so SentencePiece's leading-space rules
    see the token before) and emits what the decoding gained. While the text ends in an
    incomplete character (U+FFFD), nothing is emitted yet (the TGI / vLLM scheme).
    """

    def __init__(self, tokenizer, prompt_ids: list[int], *, context: int = 4) -> None:
        self.tokenizer = tokenizer
        self.ids = list(prompt_ids[-context:])
        self.prefix_offset = 0             # decoding starts here
        self.read_offset = len(self.ids)   # text up to here has been emitted

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)

    def add(self, token_id: int) -> str:
        self.ids.append(token_id)
        return self._emit(final=False)

    def flush(self) -> str:
        """Whatever is still held back (an incomplete character at the very end)."""
        return self._emit(final=True)

    def _emit(self, *, final: bool) -> str:
        emitted = self._decode(self.ids[self.prefix_offset:self.read_offset])
        current = self._decode(self.ids[self.prefix_offset:])
        if len(current) <= len(emitted) or (current.endswith("\ufffd") and not final):
            return ""
        self.prefix_offset, self.read_offset = self.read_offset, len(self.ids)
        return current[len(emitted):]


class StopStringWatcher:
    """Holds back text that might be the start of a stop string; reports when one appears."""

    def __init__(self, stops: list[str]) -> None:
        self.stops = [s for s in stops if s]
        self.pending = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """Returns (text safe to emit, whether a stop string was found). The stop string itself
        and anything after it are never emitted."""
        if not self.stops:
            return text, False
        self.pending += text
        cuts = [self.pending.find(s) for s in self.stops if s in self.pending]
        if cuts:
            emitted, self.pending = self.pending[:min(cuts)], ""
            return emitted, True
        hold = max((k for s in self.stops for k in range(1, len(s)) if self.pending.endswith(s[:k])), default=0)
        emitted = self.pending[:len(self.pending) - hold]
        self.pending = self.pending[len(self.pending) - hold:]
        return emitted, False

    def flush(self) -> str:
        text, self.pending = self.pending, ""
        return text
