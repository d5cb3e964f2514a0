"""Overlap metrics between a prediction and a reference: ROUGE (rouge-score), BLEU and chrF (sacrebleu),
with the counts behind each number.

The numbers come from the reference implementations (`rouge-score` 0.1.2 re-implements ROUGE-1.5.5;
`sacrebleu` is the standard BLEU/chrF). Next to them we count the same things in the open, with
rouge-score's own tokenizer, so the explanation can be checked: ROUGE-N's matched n-grams are
Σ min(count in prediction, count in reference); precision = matched / prediction n-grams, recall =
matched / reference n-grams, F = 2PR / (P + R). ROUGE-L uses the longest common subsequence (LCS)
instead of matched n-grams; ROUGE-Lsum does it per line ("summary-level") with the union of LCSs.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

from llm_playground.errors import PlaygroundError

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")

SEEDS_EXAMPLE = ("The cat sat on the mat near the window.", "The cat sat on the mat.")
SEEDS_NOTE = (
    "The course prints ROUGE-1 0.8571 and ROUGE-L 0.7143 for this pair; rouge-score (the reference "
    "implementation of ROUGE-1.5.5) gives 0.8 for both. Its tokenizer lower-cases and splits on "
    "non-alphanumerics, so the prediction has 9 tokens (the cat sat on the mat near the window) and "
    "the reference 6: ROUGE-1 matches 6 (P 6/9, R 6/6, F 0.8), ROUGE-L's LCS is the same 6 tokens (F 0.8). "
    "0.8571 would need a prediction of 8 tokens (P 6/8), and 0.7143 = 5/7 fits no LCS of this pair: "
    "the printed figures were not computed by ROUGE's definition.")


@dataclass
class RougeCount:
    """One ROUGE type: the counts and the scores."""

    rouge_type: str
    matched: int
    """Matched n-grams (ROUGE-N) or LCS length (ROUGE-L; Lsum: union-LCS hits)."""
    prediction_total: int
    reference_total: int
    precision: float
    recall: float
    f: float
    matched_ngrams: list[str] = field(default_factory=list)

    @property
    def explanation(self) -> str:
        what = {"rouge1": "matched words", "rouge2": "matched word pairs", "rougeL": "longest common subsequence",
                "rougeLsum": "union LCS over lines"}[self.rouge_type]
        return (f"{what} {self.matched}: P = {self.matched}/{self.prediction_total} = {self.precision:.4f}, "
                f"R = {self.matched}/{self.reference_total} = {self.recall:.4f}, F = 2PR/(P+R) = {self.f:.4f}")


@dataclass
class OverlapReport:
    prediction: str
    reference: str
    prediction_tokens: list[str]
    reference_tokens: list[str]
    rouge: list[RougeCount]
    bleu: float
    bleu_detail: dict
    chrf: float
    note: str = ""

    def to_dict(self) -> dict:
        return {**asdict(self), "explanations": {r.rouge_type: r.explanation for r in self.rouge}}


def _ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence (dynamic programming, O(len(a)·len(b)))."""
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def _f(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def rouge_counts(prediction: str, reference: str, *, use_stemmer: bool = False) -> tuple[list[RougeCount], list[str], list[str]]:
    """ROUGE-1/2/L/Lsum from rouge-score, with the counts that explain them."""
    from rouge_score import rouge_scorer, tokenizers

    tokenizer = tokenizers.DefaultTokenizer(use_stemmer=use_stemmer)
    pred, ref = tokenizer.tokenize(prediction), tokenizer.tokenize(reference)
    scores = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=use_stemmer).score(reference, prediction)
    rows = []
    for n in (1, 2):
        p_grams, r_grams = _ngrams(pred, n), _ngrams(ref, n)
        common = p_grams & r_grams
        score = scores[f"rouge{n}"]
        rows.append(RougeCount(f"rouge{n}", sum(common.values()), sum(p_grams.values()), sum(r_grams.values()),
                               score.precision, score.recall, score.fmeasure,
                               [" ".join(g) + (f" ×{c}" if c > 1 else "") for g, c in common.items()]))
    lcs = lcs_length(pred, ref)
    rows.append(RougeCount("rougeL", lcs, len(pred), len(ref), scores["rougeL"].precision, scores["rougeL"].recall,
                           scores["rougeL"].fmeasure))
    lsum = scores["rougeLsum"]
    pred_lines = sum(len(tokenizer.tokenize(line)) for line in prediction.split("\n"))
    ref_lines = sum(len(tokenizer.tokenize(line)) for line in reference.split("\n"))
    rows.append(RougeCount("rougeLsum", round(lsum.recall * ref_lines), pred_lines, ref_lines, lsum.precision,
                           lsum.recall, lsum.fmeasure))
    return rows, pred, ref


def overlap_report(prediction: str, reference: str, *, use_stemmer: bool = False) -> OverlapReport:
    """ROUGE, BLEU and chrF of one prediction against one reference, explained."""
    import sacrebleu

    if not prediction.strip() or not reference.strip():
        raise PlaygroundError("the prediction and the reference must both be non-empty text")
    rouge, pred_tokens, ref_tokens = rouge_counts(prediction, reference, use_stemmer=use_stemmer)
    bleu = sacrebleu.sentence_bleu(prediction, [reference])
    chrf = sacrebleu.sentence_chrf(prediction, [reference])
    detail = {"matched_ngrams": list(bleu.counts), "prediction_ngrams": list(bleu.totals),
              "precisions": [round(p, 4) for p in bleu.precisions], "brevity_penalty": round(bleu.bp, 4),
              "prediction_length": bleu.sys_len, "reference_length": bleu.ref_len,
              "signature": "sacrebleu sentence_bleu (13a tokenizer, exp smoothing)"}
    note = SEEDS_NOTE if (prediction.strip(), reference.strip()) == SEEDS_EXAMPLE else ""
    return OverlapReport(prediction, reference, pred_tokens, ref_tokens, rouge, bleu.score, detail, chrf.score, note)


def format_report(report: OverlapReport) -> str:
    lines = [f"prediction tokens ({len(report.prediction_tokens)}): {' '.join(report.prediction_tokens)}",
             f"reference tokens  ({len(report.reference_tokens)}): {' '.join(report.reference_tokens)}",
             "(rouge-score's tokenizer: lower-case, split on anything not a letter or digit)", ""]
    lines.append(f"{'metric':<10} {'P':>7} {'R':>7} {'F':>7}   counts")
    for row in report.rouge:
        lines.append(f"{row.rouge_type:<10} {row.precision:>7.4f} {row.recall:>7.4f} {row.f:>7.4f}   {row.explanation}")
        if row.matched_ngrams:
            lines.append(f"{'':<10} matched: {', '.join(row.matched_ngrams)}")
    d = report.bleu_detail
    lines += ["", f"BLEU {report.bleu:.2f}  (n-gram matches {d['matched_ngrams']} of {d['prediction_ngrams']}, "
                  f"precisions {d['precisions']}, brevity penalty {d['brevity_penalty']}; {d['signature']})",
              f"chrF {report.chrf:.2f}  (character n-gram F-score, β = 2, sacrebleu)"]
    if report.note:
        lines += ["", "note: " + report.note]
    return "\n".join(lines)
