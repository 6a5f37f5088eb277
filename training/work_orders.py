"""ComplaintClassifier: word + character n-gram TF-IDF, a linear SVM with C chosen by inner CV, calibrated.

Everything is learned from the tenant's labelled orders: the categories are whatever labels it uses, the
vocabulary whatever its texts hold. The tokenizer (:mod:`features.work_orders_text`) is the tenant's.

How it fits (``fit`` / ``fit_tokens``):

1. two TF-IDF blocks (sublinear tf, ``min_df``): word n-grams of the tokens and character n-grams within
   tokens (robust to jieba's segmentation errors, spelling variants and inflection);
2. an inner stratified CV over the grid ``Cs`` of a one-vs-rest linear SVM; the C with the best out-of-fold
   macro-F1 wins (ties go to the smaller C);
3. the out-of-fold decision values of that C train a multinomial logistic calibrator (decision values ->
   probabilities), so the probabilities are fitted on texts the SVM had not seen;
4. the SVM is refitted on every training order with the chosen C.

The label is the SVM's argmax; ``probability`` is the calibrated probability of that label, and
:meth:`predict_frame` returns :data:`UNSURE` where it is below ``unsure_below``. ``keywords`` are the tokens
(word n-grams) of the text with the largest contribution (tf-idf x weight) to the predicted label.

Invariants
----------
- The inner CV and the calibrator see only the orders passed to ``fit``; an outer evaluation fold never
  enters either (the vectorisers are also fitted on the training orders only).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

from features.work_orders_text import TextConfig, Tokenizer

logger = logging.getLogger(__name__)

UNSURE = "unsure"
PREDICTION_COLUMNS = ("category", "best_guess", "probability", "unsure", "keywords")


def _split(doc: str) -> list[str]:
    return doc.split()


def word_vectorizer(ngram_range: tuple[int, int] = (1, 2), min_df: int = 2) -> TfidfVectorizer:
    """TF-IDF over the tokens (already joined by spaces), no further tokenising."""
    return TfidfVectorizer(
        tokenizer=_split, token_pattern=None, lowercase=False, ngram_range=ngram_range, min_df=min_df,
        sublinear_tf=True, dtype=np.float32,
    )  # fmt: skip


class ComplaintClassifier(ClassifierMixin, BaseEstimator):
    """Category of a work order from its text (any language), with calibrated probabilities and keywords.

    Parameters
    ----------
    text_config : TextConfig, optional
        The tenant's tokenisation (user dictionary, stop words).
    Cs : tuple of float
        SVM regularisation grid searched by the inner CV.
    inner_folds : int
        Folds of the inner CV (reduced to the smallest class count when a class is rarer).
    word_ngrams, char_ngrams : tuple of int
        n-gram ranges of the two TF-IDF blocks.
    min_df : int
        Minimum document count of a feature.
    unsure_below : float
        Calibrated probability below which :meth:`predict_frame` says :data:`UNSURE`.
    n_keywords : int
        Keywords returned per order.
    random_state : int
        Seed of the inner CV split.
    """

    def __init__(
        self,
        text_config: TextConfig | None = None,
        Cs: tuple[float, ...] = (0.3, 1.0, 3.0),
        inner_folds: int = 3,
        word_ngrams: tuple[int, int] = (1, 2),
        char_ngrams: tuple[int, int] = (1, 3),
        min_df: int = 2,
        unsure_below: float = 0.5,
        n_keywords: int = 5,
        random_state: int = 0,
    ):
        self.text_config = text_config
        self.Cs = Cs
        self.inner_folds = inner_folds
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.min_df = min_df
        self.unsure_below = unsure_below
        self.n_keywords = n_keywords
        self.random_state = random_state

    # -- text -> features -------------------------------------------------------------------------------
    @property
    def tokenizer(self) -> Tokenizer:
        if getattr(self, "_tokenizer", None) is None:
            self._tokenizer = Tokenizer(self.text_config or TextConfig())
        return self._tokenizer

    def tokenize(self, texts) -> list[str]:
        """Texts as space-joined tokens (the input of :meth:`fit_tokens` and :meth:`decision_tokens`)."""
        return self.tokenizer.join(pd.Series(texts, dtype=object).fillna("").astype(str))

    def _transform(self, docs: list[str]) -> sp.csr_matrix:
        return sp.hstack([self.word_.transform(docs), self.char_.transform(docs)], format="csr")

    # -- fitting ----------------------------------------------------------------------------------------
    def fit(self, X, y) -> ComplaintClassifier:
        """Fit on raw texts `X` (sequence of str) and labels `y`."""
        return self.fit_tokens(self.tokenize(X), y)

    def fit_tokens(self, docs: list[str], y) -> ComplaintClassifier:
        """Fit on texts already passed through :meth:`tokenize` (lets an evaluation tokenise a corpus once)."""
        y = np.asarray(pd.Series(y).astype(str))
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"need at least 2 categories to learn from; got {list(self.classes_)}")
        min_df = self.min_df if len(docs) >= 20 * self.min_df else 1
        self.word_ = word_vectorizer(self.word_ngrams, min_df)
        self.char_ = TfidfVectorizer(
            analyzer="char_wb", ngram_range=self.char_ngrams, min_df=min_df, sublinear_tf=True, dtype=np.float32
        )
        Z = sp.hstack([self.word_.fit_transform(docs), self.char_.fit_transform(docs)], format="csr")
        self.C_, oof, self.cv_scores_ = self._choose_c(Z, codes)
        self.svm_ = LinearSVC(C=self.C_, random_state=self.random_state).fit(Z, codes)
        self.calibrator_ = LogisticRegression(C=10.0, max_iter=2000).fit(oof, codes) if oof is not None else None
        self.n_word_features_ = len(self.word_.vocabulary_)
        logger.info(
            "work-order classifier: %d orders, %d categories, %d features, C=%s (inner CV macro-F1 %s)",
            len(docs), len(self.classes_), Z.shape[1], self.C_, {c: round(s, 4) for c, s in self.cv_scores_.items()},
        )  # fmt: skip
        return self

    def _choose_c(self, Z: sp.csr_matrix, codes: np.ndarray) -> tuple[float, np.ndarray | None, dict]:
        counts = np.bincount(codes)
        folds = min(self.inner_folds, int(counts.max()))
        if folds < 2 or counts.min() < 2:
            logger.warning("a category has a single order: no inner CV, C=%s and uncalibrated scores", self.Cs[-1])
            return float(self.Cs[-1]), None, {}
        cv = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
        splits = list(cv.split(np.zeros(len(codes)), codes))  # a rare category may miss some training folds
        scores, oofs = {}, {}
        k = len(self.classes_)
        for C in self.Cs:
            oof = np.full((len(codes), k if k > 2 else 1), -10.0)
            for tr, te in splits:
                svm = LinearSVC(C=C, random_state=self.random_state).fit(Z[tr], codes[tr])
                d = svm.decision_function(Z[te]).reshape(len(te), -1)
                if k > 2 and len(svm.classes_) == k:
                    oof[te] = d
                elif k > 2:  # categories unseen in this inner fold keep a very low score
                    d = d if d.shape[1] > 1 else np.hstack([-d, d])  # a two-class SVM gives one column
                    sub = np.full((len(te), k), -10.0)
                    sub[:, svm.classes_] = d
                    oof[te] = sub
                else:
                    oof[te] = d
            pred = oof.argmax(axis=1) if k > 2 else (oof[:, 0] > 0).astype(int)
            scores[float(C)] = float(f1_score(codes, pred, average="macro"))
            oofs[float(C)] = oof
        best = max(scores, key=lambda c: (round(scores[c], 6), -c))
        return best, oofs[best], scores

    # -- predicting -------------------------------------------------------------------------------------
    def decision_tokens(self, docs: list[str]) -> np.ndarray:
        """SVM decision values, shape (n, n_classes) (one column for two classes)."""
        return self.svm_.decision_function(self._transform(docs)).reshape(len(docs), -1)

    def _proba_from_decision(self, d: np.ndarray) -> np.ndarray:
        if self.calibrator_ is not None:
            return self.calibrator_.predict_proba(d)
        z = d if d.shape[1] > 1 else np.hstack([-d, d])
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def _label_codes(self, d: np.ndarray) -> np.ndarray:
        return d.argmax(axis=1) if d.shape[1] > 1 else (d[:, 0] > 0).astype(int)

    def predict_tokens(self, docs: list[str]) -> np.ndarray:
        return self.classes_[self._label_codes(self.decision_tokens(docs))]

    def predict(self, X) -> np.ndarray:
        """Most likely category per text (never :data:`UNSURE`; see :meth:`predict_frame`)."""
        return self.predict_tokens(self.tokenize(X))

    def predict_proba(self, X) -> np.ndarray:
        """Calibrated probabilities, shape (n, n_classes), columns in ``classes_`` order."""
        return self._proba_from_decision(self.decision_tokens(self.tokenize(X)))

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Per order: ``category`` (or ``unsure``), ``best_guess``, ``probability``, ``unsure``, ``keywords``.

        ``keywords`` are "; "-joined; ``best_guess`` is the most likely category even when unsure.
        """
        if "text" not in frame:
            raise ValueError(f"predict_frame needs a 'text' column; got {list(frame.columns)}")
        docs = self.tokenize(frame["text"])
        Z = self._transform(docs)
        d = self.svm_.decision_function(Z).reshape(len(docs), -1)
        codes = self._label_codes(d)
        proba = self._proba_from_decision(d)[np.arange(len(docs)), codes]
        unsure = proba < self.unsure_below
        label = np.where(unsure, UNSURE, self.classes_[codes]).astype(object)
        return pd.DataFrame(
            {
                "category": label,
                "best_guess": self.classes_[codes].astype(object),
                "probability": proba.astype(float),
                "unsure": unsure,
                "keywords": self._keywords(Z, codes),
            },
            index=frame.index,
        )

    def _keywords(self, Z: sp.csr_matrix, codes: np.ndarray) -> list[str]:
        """The word n-grams of each row with the largest positive contribution to its label (vectorised)."""
        W = Z[:, : self.n_word_features_].tocsr()
        coef = self.svm_.coef_ if self.svm_.coef_.shape[0] > 1 else np.vstack([-self.svm_.coef_, self.svm_.coef_])
        rows = np.repeat(np.arange(W.shape[0]), np.diff(W.indptr))
        contrib = W.data * coef[codes[rows], W.indices]
        keep = contrib > 0
        rows, cols, contrib = rows[keep], W.indices[keep], contrib[keep]
        order = np.lexsort((-contrib, rows))
        rows, cols = rows[order], cols[order]
        rank = np.arange(len(rows)) - np.searchsorted(rows, rows)
        top = rank < self.n_keywords
        names = self.word_.get_feature_names_out()
        words = pd.Series(names[cols[top]]).groupby(rows[top]).agg("; ".join)
        return words.reindex(np.arange(W.shape[0]), fill_value="").tolist()


class BaselineClassifier(ClassifierMixin, BaseEstimator):
    """The bar to beat: word TF-IDF (unigrams of the same tokens) + LinearSVC with default C."""

    def fit_tokens(self, docs: list[str], y) -> BaselineClassifier:
        self.vec_ = TfidfVectorizer(tokenizer=_split, token_pattern=None, lowercase=False)
        self.svm_ = LinearSVC(random_state=0).fit(self.vec_.fit_transform(docs), np.asarray(pd.Series(y).astype(str)))
        self.classes_ = self.svm_.classes_
        return self

    def predict_tokens(self, docs: list[str]) -> np.ndarray:
        return self.svm_.predict(self.vec_.transform(docs))
