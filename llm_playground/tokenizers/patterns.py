"""The regular expressions that cut text into chunks before byte-pair merging ("pre-splitting").

BPE never merges across a chunk boundary, so a token never spans " dog" and "." together, and a
word keeps the same tokens wherever it appears. These are tiktoken's own patterns (a test checks
they are identical); they use the `regex` module's Unicode classes (\\p{L} letters, \\p{N} numbers)
and possessive quantifiers (`++`, which never give back what they matched).

Known difference: the `regex` module and tiktoken's Rust regex carry different Unicode versions,
so for code points that are unassigned in one of them (e.g. CJK Extension H/J ideographs, planes 3
and 13-15) they may disagree on "is this a letter?" and cut chunks differently. For every code
point assigned in Python's Unicode tables, the chunks (and hence the ids) are identical.
"""
from __future__ import annotations

from llm_playground.checks import require_regex
from llm_playground.errors import PlaygroundError, unknown_name

# GPT-2 (2019): contractions, then an optional space + a run of letters | digits | other symbols,
# then whitespace (a run of spaces keeps its last space for the next word: "\s+(?!\S)").
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""

# cl100k_base (GPT-3.5/4): case-insensitive contractions, one leading non-letter glued to a word,
# numbers in groups of at most 3 digits, and newlines split off from other whitespace.
CL100K_PATTERN = (r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
                  r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s""")

# o200k_base (GPT-4o): words split at case changes (CamelCase → Camel|Case), contractions attached.
O200K_PATTERN = "|".join([
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""\p{N}{1,3}""",
    r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
    r"""\s*[\r\n]+""",
    r"""\s+(?!\S)""",
    r"""\s+""",
])

PATTERNS = {"gpt2": GPT2_PATTERN, "cl100k": CL100K_PATTERN, "o200k": O200K_PATTERN}


def split_pattern(name_or_pattern: str) -> str:
    """A pattern by name (gpt2, cl100k, o200k); a string that is not a name is taken as a regex.

    >>> split_pattern("gpt2") == GPT2_PATTERN
    True
    """
    if name_or_pattern in PATTERNS:
        return PATTERNS[name_or_pattern]
    if len(name_or_pattern) < 10 and name_or_pattern.isidentifier():  # looks like a mistyped name
        raise unknown_name("split pattern", name_or_pattern, PATTERNS)
    if not name_or_pattern:
        raise PlaygroundError("the split pattern is empty; use gpt2, cl100k, o200k or a regex")
    require_regex("the split pattern", name_or_pattern)
    return name_or_pattern
