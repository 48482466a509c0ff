"""A cheap language guess from the script and a few function words; enough to pick a lexicon and seed terms.

Not a language identifier for its own sake: it tells CJK scripts apart (zh, ja, ko) and, for Latin text, English,
German, French, Spanish and Italian by their commonest words. Anything else is "" (unknown)."""

from __future__ import annotations

import re

_HIRAGANA_KATAKANA = re.compile(r"[\u3040-\u30ff]")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_HANGUL = re.compile(r"[\uac00-\ud7af]")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_FUNCTION_WORDS = {
    "en": {"the", "and", "is", "it", "was", "i", "to", "of", "not", "this", "for", "my", "very", "but", "with", "no",
           "too", "after", "does", "did", "have", "has", "are", "you", "on", "in", "at", "so", "be", "an", "a"},
    "de": {"und", "ist", "nicht", "der", "die", "das", "ich", "es", "sehr", "war", "mit", "aber", "ein", "zu"},
    "fr": {"le", "la", "et", "est", "pas", "je", "les", "très", "un", "une", "des", "mais", "pour", "avec"},
    "es": {"el", "la", "y", "es", "no", "muy", "que", "de", "los", "un", "una", "pero", "con", "para"},
    "it": {"il", "la", "e", "è", "non", "molto", "che", "di", "un", "una", "ma", "per", "con", "sono"},
}


def language_guess(text: str) -> str:
    """ISO 639-1 code of `text`'s likely language, or "" when unsure."""
    if not text:
        return ""
    if _HIRAGANA_KATAKANA.search(text):
        return "ja"
    if _HANGUL.search(text):
        return "ko"
    if _HAN.search(text):
        return "zh"
    if _CYRILLIC.search(text):
        return "ru"
    words = [w.lower() for w in _WORD.findall(text)[:200]]
    if not words:
        return ""
    scores = {lang: sum(w in vocab for w in words) for lang, vocab in _FUNCTION_WORDS.items()}
    best = max(scores, key=scores.get)
    return best if scores[best] >= max(1, len(words) // 20) else ""
