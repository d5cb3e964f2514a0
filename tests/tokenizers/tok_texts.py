"""Texts that mix every kind of character the acceptance criteria name (shared by the tests)."""

MIXED_TEXTS = [
    "",
    "a",
    "Hello, world! It's a test; we'll see what they've done.",
    "def fib(n: int) -> int:\n    return n if n < 2 else fib(n - 1) + fib(n - 2)  # 12345678901\n",
    "    indented\n\n\n\ttabs\t\tand   runs of spaces   \r\n\r\nend  ",
    "Numbers: 3.14159, 2,718, 1_000_000, 007, 1e-9, -42, 12345678",
    "Emoji 😀👍🏽 👨‍👩‍👧‍👦 flags 🇫🇷🇯🇵 and ♥️",
    "CJK 你好，世界。日本語のテキスト。한국어 텍스트",
    "Arabic مرحبا بالعالم و العربية ١٢٣",
    "Combining accents: e\u0301 a\u0300 n\u0303 Ångström cafe\u0301 Z\u0335\u0321\u0317a\u0334l\u0337g\u0338o",
    "MiXeD CaSe CamelCaseWords HTTPServer iPhone don'T I'M WE'LL",
    "\x00\x01 control \x7f chars \u200b zero width \ufeff BOM",
    "  \n  \n\n   ",
    "<|endoftext|> is only special when allowed",
]
SURROGATE_TEXTS = ["lone \ud800 high", "lone \udfff low", "pair \ud83d\ude00 written as two", "end \ud83d"]
