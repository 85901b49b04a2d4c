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
import hashlib
import logging
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

import jieba

RESOURCES = Path(__file__).resolve().parent / "resources"
USER_DICTIONARY_PATH = RESOURCES / "userdict.txt"
STOPWORDS_PATH = RESOURCES / "stopwords.txt"
FILLER_PATH = RESOURCES / "filler.txt"
# Units and symbols that normalisation leaves as short Latin tokens ("mm", "℃" → "°c" → "c").
RARE_WORD = 50  # jieba frequency below which a term beside a lone character is taken for a fragment
# Raise when tokens() changes what it keeps for the same jieba and word lists: cached tokens go stale.
TOKEN_RULES = 1
UNITS = frozenset("mm cm km um nm kg mg ml kw mw kv kpa mpa gpa min ppm rpm db hz khz mhz ghz m2 m3".split())

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


@functools.lru_cache(maxsize=4096)
def normalize(text: str) -> str:
    """Fold width, case, punctuation variants and whitespace into one form.

        >>> normalize("ＡＩ芯片——“国产化”\\n\\n方案")
        'ai芯片--"国产化" 方案'

    Cached: explaining a ranking normalises each candidate's whole text again (a quarter of a new
    demand's time outside embedding, bench/engine_speed.py).
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
        # What decides tokens(): the rules, jieba's version, and every term and stop word given.
        self._version = hashlib.sha256(f"rules {TOKEN_RULES}; jieba {jieba.__version__}".encode())
        # a query's text is cut once for all its candidates' reasons, not once per candidate
        self._pieces = functools.lru_cache(maxsize=32)(self._cut)
        if user_dictionary_path is not None:
            for line in read_word_list(user_dictionary_path):
                self.add_term(*parse_user_dictionary_line(line))
        for term in user_terms:
            self.add_term(term)
        words = read_word_list(stopwords_path) if stopwords_path is not None else []
        self.stopwords = frozenset(normalize(word) for word in words)
        self._version.update("\nstop words: ".join(["", *sorted(self.stopwords)]).encode())
        self.filler = frozenset(normalize(word) for word in read_word_list(FILLER_PATH))

    def add_term(self, term: str, freq: int | None = None, tag: str | None = None) -> None:
        """Teach the tokenizer one domain term (normalised like the text it will meet).

            >>> Tokenizer().add_term("海洋生物活性肽")
        """
        term = normalize(term)
        if term:
            self._jieba.add_word(term, freq, tag)
            self._pieces.cache_clear()
            self._version.update(f"\nterm: {term} {freq} {tag}".encode())

    @property
    def version(self) -> str:
        """Changes whenever tokens() could give other tokens for the same text: another jieba, another
        user dictionary or stop-word list, a term added, new TOKEN_RULES (keys of cached tokens).

            >>> Tokenizer().version == default_tokenizer().version
            True
            >>> tokenizer = Tokenizer()
            >>> tokenizer.add_term("海洋生物活性肽")
            >>> tokenizer.version == default_tokenizer().version
            False
        """
        return self._version.hexdigest()[:16]

    def tokens(self, text: str) -> list[str]:
        """Normalise, cut in precise mode with HMM, and keep the meaningful tokens.

            >>> default_tokenizer().tokens("我们需要进行5G通信模组的研发")
            ['5g', '通信', '模组', '研发']
        """
        pieces = self._jieba.cut(normalize(text), cut_all=False, HMM=True)
        return [piece for piece in pieces if _is_kept_token(piece, self.stopwords)]


    def reason_terms(self, terms: Iterable[str], text: str, other_text: str, limit: int = 8) -> list[str]:
        """The first `limit` of the BM25 terms shared by two texts that are worth showing as a reason
        for matching them, as they are shown.

            >>> tokenizer = default_tokenizer()
            >>> tokenizer.reason_terms(["刀具", "mm", "左右"], "刀具磨钝,误差0.5mm左右", "刀具磨损监测,精度0.1mm")
            ['刀具']
            >>> tokenizer.reason_terms(["接机"], "压接机上没有监测", "在压接机上加装传感器")   # jieba cut 压|接机
            []
            >>> tokenizer.reason_terms(["接机"], "焊接机器人", "对接机构")      # pieces of 焊接 and 对接
            []

        Dropped: filler (filler.txt), numbers, units, lone Latin letters, and fragments: a short
        term that, wherever it occurs in one text, is cut across by a much more common dictionary
        word that the other text lacks; and a rare or unknown term jieba cut from a longer string
        both texts share, leaving a lone character beside it (压|接机, 级|进模), unless that
        string is a dictionary word (then it is shown whole).
        """
        text, other_text = normalize(text), normalize(other_text)
        shown: list[str] = []
        for term in terms:
            if len(shown) == limit:
                break
            if term in self.filler or term in UNITS:
                continue
            if term.isascii():
                if len(term) >= 2 and any(char.isalpha() for char in term) and term not in shown:
                    shown.append(term)
                continue
            longer = term
            if (self._jieba.FREQ.get(term) or 0) < RARE_WORD:
                longer = self._common_extension(term, self._pieces(text), other_text)
            if longer != term:
                term = longer if self._jieba.FREQ.get(longer) else None
            elif self._fragment(term, text, other_text) or self._fragment(term, other_text, text):
                term = None
            if term and term not in shown:
                shown.append(term)
        return shown

    def _cut(self, text: str) -> tuple[str, ...]:
        return tuple(piece for piece, _, _ in self._jieba.tokenize(text, HMM=True))

    def _common_extension(self, term: str, pieces: tuple[str, ...], other_text: str) -> str:
        """term with the single characters jieba left beside it in `pieces` (级|进模 → 级进模), when
        other_text contains the longer string; else term."""
        best = term
        for number, piece in enumerate(pieces):
            if piece != term:
                continue
            before = pieces[number - 1] if number and _is_lone_character(pieces[number - 1], self.stopwords) else ""
            after = pieces[number + 1] if number + 1 < len(pieces) and \
                _is_lone_character(pieces[number + 1], self.stopwords) else ""
            for longer in (before + term + after, before + term, term + after):
                if len(longer) > len(best) and longer in other_text:
                    best = longer
        return best

    def _fragment(self, term: str, text: str, other_text: str) -> bool:
        """Every occurrence of a two-character term in text is cut across by a dictionary word at least
        ten times as common (and common in itself) that other_text lacks."""
        if len(term) != 2:
            return False
        words, start = self._jieba.FREQ, text.find(term)
        floor = max(100, 10 * (words.get(term) or 0))
        found = start >= 0
        while start >= 0:
            end = start + len(term)
            crossing = (text[left:right] for left in range(max(0, start - 3), end)
                        for right in range(left + 2, min(len(text), left + 5) + 1)
                        if left < end and right > start and not (left <= start and right >= end)
                        and not (left >= start and right <= end))
            if not any((words.get(word) or 0) >= floor and word not in other_text for word in crossing):
                return False
            start = text.find(term, start + 1)
        return found


def _is_lone_character(piece: str, stopwords: frozenset[str]) -> bool:
    """A single CJK character that is not a stop word: what jieba leaves of an unknown longer word."""
    return len(piece) == 1 and "\u4e00" <= piece <= "\u9fff" and piece not in stopwords


@functools.lru_cache(maxsize=1)
def default_tokenizer() -> Tokenizer:
    """The shared tokenizer with the bundled resources (loading jieba takes ~1 s).

        >>> default_tokenizer() is default_tokenizer()
        True
    """
    return Tokenizer()


def write_user_dictionary(terms: Iterable[str], path: str | Path) -> int:
    """Write a sorted, de-duplicated jieba user dictionary; return the term count.

        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     write_user_dictionary(["碳纤维", "ＡＩ芯片", "碳纤维", " "], Path(folder) / "userdict.txt")
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

