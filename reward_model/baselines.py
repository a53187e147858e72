"""Trivial scorers to read the reward model's numbers against: did it learn more than surface features?

    length_scores(responses)                          character count
    TfidfBaseline.fit(records).score(responses)       TF-IDF (word 1-2 grams) + logistic regression, P(correct)

Both are scored on exactly the pairs the RM is scored on (`evaluate.evaluate`).
"""

from __future__ import annotations

import numpy as np

from reward_model.data import OutcomeRecord


def length_scores(responses: list[str]) -> np.ndarray:
    """(N,) response lengths in characters: the baseline "longer is better" (its mirror is 1 - accuracy)."""
    return np.asarray([len(r) for r in responses], dtype=np.float64)


class TfidfBaseline:
    """Bag-of-words classifier of correctness on the response text, fitted on training records.

    The prompt is left out: it is the same for both sides of a within-group pair, and a linear model
    cannot use it to compare them.
    """

    def __init__(self, seed: int = 0):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        self.vectorizer = TfidfVectorizer(
            ngram_range=(1, 2), sublinear_tf=True, min_df=1, token_pattern=r"(?u)\b\w+\b|[\\{}=?]"
        )
        self.classifier = LogisticRegression(C=1.0, max_iter=1000, random_state=seed)

    def fit(self, records: list[OutcomeRecord]) -> "TfidfBaseline":
        labels = np.asarray([r.outcome >= 0.5 for r in records])
        if labels.all() or not labels.any():
            raise ValueError("the TF-IDF baseline needs training records of both outcomes")
        self.classifier.fit(self.vectorizer.fit_transform([r.response for r in records]), labels)
        return self

    def score(self, responses: list[str]) -> np.ndarray:
        """(N,) P(correct)."""
        return self.classifier.predict_proba(self.vectorizer.transform(responses))[:, 1]
