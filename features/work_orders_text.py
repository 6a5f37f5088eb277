"""Tokenise work-order text in any language: jieba for Chinese, word characters for space-separated languages.

A text is split into runs of CJK characters and runs of anything else. CJK runs go through jieba (accurate
mode, HMM on) with the tenant's user dictionary; other runs are split on non-word characters, so English,
French or Spanish words, digits and codes such as ``A123`` stay whole. Latin letters are lower-cased, full-width
forms folded (NFKC), punctuation and whitespace dropped, and the tenant's stop words removed. Masked digits
(``*****``) and bare punctuation never become tokens.

Invariants
----------
- Tokenising a text depends on that text and the tenant's :class:`TextConfig` only (no corpus statistics), so
  a corpus may be tokenised once before cross-validation without leaking between folds.
- No vocabulary or category list is built in: the user dictionary and stop words come from the tenant.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

#: CJK unified ideographs (basic + extension A) and compatibility ideographs.
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUNS = re.compile(f"([{_CJK}]+)")
_WORD = re.compile(r"\w+", re.UNICODE)
_HAS_CJK = re.compile(f"[{_CJK}]")


@dataclass(frozen=True)
class TextConfig:
    """A tenant's tokenisation settings.

    Parameters
    ----------
    user_dict : path, optional
        jieba user dictionary (one ``word [freq] [tag]`` per line): place names, product and tariff names.
    user_words : tuple of str
        Extra words to keep whole, added to the dictionary (e.g. ``("95598", "阶梯电价")``).
    stop_words : tuple of str
        Tokens to drop (compared after lower-casing).
    stop_words_file : path, optional
        One stop word per line (UTF-8), added to `stop_words`.
    min_token_chars : int
        Tokens shorter than this are dropped (1 keeps single Chinese characters, which carry meaning).
    """

    user_dict: Path | None = None
    user_words: tuple[str, ...] = ()
    stop_words: tuple[str, ...] = ()
    stop_words_file: Path | None = None
    min_token_chars: int = 1

    def all_stop_words(self) -> frozenset[str]:
        words = {w.strip().lower() for w in self.stop_words}
        if self.stop_words_file is not None:
            text = Path(self.stop_words_file).read_text(encoding="utf-8")
            words |= {w.strip().lower() for w in text.splitlines()}
        return frozenset(w for w in words if w)


@dataclass
class Tokenizer:
    """Text -> tokens for one tenant; the jieba dictionary is loaded on first use (about 1 s)."""

    config: TextConfig = field(default_factory=TextConfig)

    def __post_init__(self) -> None:
        self._stop = self.config.all_stop_words()
        self._jieba = None

    def __getstate__(self) -> dict:  # the jieba tokenizer is rebuilt after unpickling
        return {"config": self.config}

    def __setstate__(self, state: dict) -> None:
        self.config = state["config"]
        self.__post_init__()

    def _segmenter(self):
        if self._jieba is None:
            import jieba

            jieba.setLogLevel(logging.WARNING)
            seg = jieba.Tokenizer()
            if self.config.user_dict is not None:
                seg.load_userdict(str(self.config.user_dict))
            for word in self.config.user_words:
                seg.add_word(word)
            self._jieba = seg
        return self._jieba

    def tokens(self, text: str) -> list[str]:
        """Tokens of one text, in order (see the module docstring for the rules)."""
        text = unicodedata.normalize("NFKC", str(text)).lower()
        out: list[str] = []
        if not _HAS_CJK.search(text):
            out = _WORD.findall(text)
        else:
            seg = self._segmenter()
            for i, run in enumerate(_RUNS.split(text)):
                if i % 2:  # a CJK run
                    out.extend(seg.lcut(run, HMM=True))
                elif run:
                    out.extend(_WORD.findall(run))
        keep = self.config.min_token_chars
        return [t for t in out if len(t) >= keep and t not in self._stop and t.strip("_")]

    def join(self, texts: Iterable[str]) -> list[str]:
        """Each text as its tokens joined by single spaces (the form the vectorisers read).

        One call per text: jieba is a Python tokenizer, so this is the one per-row loop, run once per corpus.
        """
        return [" ".join(self.tokens(t)) for t in texts]


def has_cjk(text: str) -> bool:
    """True when `text` holds at least one CJK ideograph."""
    return bool(_HAS_CJK.search(str(text)))
