"""Text normalisation and jieba tokenisation for the lexical (BM25) signal.

    >>> normalize("  ５Ｇ　通信＂模组＂ ")
    '5g 通信"模组"'
    >>> default_tokenizer().tokens("碳纤维复合材料的低成本制备工艺")
    ['碳纤维', '复合材料', '低成本', '制备', '工艺']

The tokenizer owns its own `jieba.Tokenizer` so that domain terms added here
never leak into (or get clobbered by) other users of the global jieba.
"""
from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

import jieba

RESOURCES = Path(__file__).resolve().parent / "resources"
USER_DICTIONARY_PATH = RESOURCES / "userdict.txt"
STOPWORDS_PATH = RESOURCES / "stopwords.txt"

# Variants NFKC leaves alone (CJK punctuation, typographic quotes and dashes),
# folded to one ASCII form so "“5G”" and "\"5G\"" tokenise and compare alike.
_PUNCTUATION = str.maketrans({
    "。": ".", "、": ",", "‘": "'", "’": "'", "“": '"', "”": '"', "„": '"',
    "「": '"', "」": '"', "『": '"', "』": '"', "【": "[", "】": "]",
    "〔": "[", "〕": "]", "〖": "[", "〗": "]", "《": "<", "》": ">",
    "〈": "<", "〉": ">", "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-",
    "―": "-", "−": "-", "〜": "~", "・": "·", "•": "·",
})
_INVISIBLE = re.compile("[\u200b-\u200d\u2060\ufeff]")
_WHITESPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Fold width, case, punctuation variants and whitespace into one form.

        >>> normalize("ＡＩ芯片——“国产化”\\n\\n方案")
        'ai芯片--"国产化" 方案'
    """
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text).translate(_PUNCTUATION).lower()
    return _WHITESPACE.sub(" ", text).strip()


def read_word_list(path: str | Path) -> list[str]:
    """Non-empty lines of a UTF-8 word list, skipping `#` comment lines.

        >>> read_word_list(STOPWORDS_PATH)[:3]
        ['的', '了', '和']
    """
    lines = (line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def parse_user_dictionary_line(line: str) -> tuple[str, int | None, str | None]:
    """Split a jieba user-dictionary line "term [freq] [tag]" into its parts.

        >>> parse_user_dictionary_line("碳纤维 300 n")
        ('碳纤维', 300, 'n')
        >>> parse_user_dictionary_line("海洋生物")
        ('海洋生物', None, None)
    """
    parts = line.split()
    term, freq, tag = parts[0], None, None
    for part in parts[1:]:
        if part.isdigit():
            freq = int(part)
        else:
            tag = part
    return term, freq, tag


def _is_kept_token(token: str, stopwords: frozenset[str]) -> bool:
    """True for tokens worth indexing: not a stop word, not punctuation or space.

    Single CJK characters are dropped: after jieba's cut they are mostly
    particles and fragments (的, 与, 及, 用) whose BM25 matches are noise;
    single ASCII letters/digits are kept because they can be part numbers.
    """
    if token in stopwords or not any(ch.isalnum() for ch in token):
        return False
    return len(token) > 1 or token.isascii()


@functools.lru_cache(maxsize=1)
def _main_dictionary() -> tuple[dict[str, int], int]:
    """jieba's main dictionary as (prefix frequencies, total), loaded once (~1.5 s).

    normalize() lower-cases text, so entries such as "X射线" or "C语言" get a
    lower-case twin here; otherwise they could never match again.
    """
    # jieba announces every dictionary load on stderr; keep only real problems.
    jieba.setLogLevel(logging.WARNING)
    loader = jieba.Tokenizer()
    loader.initialize()
    for word, freq in list(loader.FREQ.items()):
        if freq and word != word.lower():
            loader.add_word(word.lower(), freq)
    return loader.FREQ, loader.total


def _fresh_jieba() -> jieba.Tokenizer:
    """A private jieba.Tokenizer holding a copy of the main dictionary.

    Copying the loaded prefix dictionary (~15 ms) instead of loading it again
    (~1.5 s) relies on jieba 0.42's FREQ/total/initialized attributes, which
    are what its own initialize() sets.
    """
    frequencies, total = _main_dictionary()
    fresh = jieba.Tokenizer()
    fresh.FREQ, fresh.total, fresh.initialized = dict(frequencies), total, True
    return fresh


class Tokenizer:
    """jieba precise-mode tokenizer with a domain dictionary and stop words.

        >>> tokenizer = Tokenizer(user_terms=["高模量碳纤维"])
        >>> tokenizer.tokens("高模量碳纤维预浸料的制备")
        ['高模量碳纤维', '预浸料', '制备']
    """

    def __init__(
        self,
        user_terms: Iterable[str] = (),
        user_dictionary_path: str | Path | None = USER_DICTIONARY_PATH,
        stopwords_path: str | Path | None = STOPWORDS_PATH,
    ) -> None:
        self._jieba = _fresh_jieba()
        if user_dictionary_path is not None:
            for line in read_word_list(user_dictionary_path):
                self.add_term(*parse_user_dictionary_line(line))
        for term in user_terms:
            self.add_term(term)
        words = read_word_list(stopwords_path) if stopwords_path is not None else []
        self.stopwords = frozenset(normalize(word) for word in words)

    def add_term(self, term: str, freq: int | None = None, tag: str | None = None) -> None:
        """Teach the tokenizer one domain term (normalised like the text it will meet).

            >>> Tokenizer().add_term("海洋生物活性肽")
        """
        term = normalize(term)
        if term:
            self._jieba.add_word(term, freq, tag)

    def tokens(self, text: str) -> list[str]:
        """Normalise, cut in precise mode with HMM, and keep the meaningful tokens.

            >>> default_tokenizer().tokens("我们需要进行5G通信模组的研发")
            ['5g', '通信', '模组', '研发']
        """
        pieces = self._jieba.cut(normalize(text), cut_all=False, HMM=True)
        return [piece for piece in pieces if _is_kept_token(piece, self.stopwords)]


@functools.lru_cache(maxsize=1)
def default_tokenizer() -> Tokenizer:
    """The shared tokenizer with the bundled resources (loading jieba takes ~1 s).

        >>> default_tokenizer() is default_tokenizer()
        True
    """
    return Tokenizer()


def write_user_dictionary(terms: Iterable[str], path: str | Path) -> int:
    """Write a sorted, de-duplicated jieba user dictionary; return the term count.

        >>> write_user_dictionary(["碳纤维", "ＡＩ芯片", "碳纤维", " "], tmp / "userdict.txt")
        2

    Terms are normalised as the tokenizer will see them. jieba cannot hold a
    space inside a term, so a multi-word keyword contributes each word instead.
    """
    words = {word for term in terms for word in normalize(term).split(" ") if len(word) > 1}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{word}\n" for word in sorted(words)), encoding="utf-8")
    return len(words)


def dictionary_terms(keywords: Iterable[str]) -> list[str]:
    """The keywords worth teaching jieba: those it would otherwise cut into stray characters.

        >>> dictionary_terms(["预浸料", "碳纤维复合材料", "海参"])
        ['预浸料']

    A keyword that jieba already splits into whole words (碳纤维 + 复合材料) is left out: as one
    token it would stop matching a text that uses its parts separately.
    """
    plain = _fresh_jieba()
    terms = []
    for keyword in keywords:
        for word in normalize(keyword).split(" "):
            pieces = list(plain.cut(word, HMM=False))
            if len(word) > 1 and len(pieces) > 1 and any(len(piece) == 1 for piece in pieces) \
                    and word not in terms:
                terms.append(word)
    return terms

