"""Aspects: which part of the experience a review is about, from seed keywords per language and terms the
shop's own reviews add to them; the clauses that mention each (so an aspect is judged on what the review says
of it, not on the whole review); and the themes of the shop's negative reviews.

- Seeds: a short list per aspect and language (English, German, French, Spanish, Italian, Chinese, Japanese).
  Languages written without spaces match by substring, the others by whole word (prefixes for inflection).
- Learned terms: a term (a word, or a 2–3-character run in CJK text) joins an aspect when the reviews that
  the seeds assign to that aspect use it at least `min_lift` times more often than the shop's reviews do, in
  at least `min_reviews` of them ("courier" next to "delivery", "快递" next to "物流").
- Themes: the terms most typical of the shop's negative reviews against its positive ones (smoothed
  log-odds), whatever aspect they belong to; they show what the data itself complains about. Terms are words
  and two-word phrases of one clause ("poor quality", "customer service"); filler is left out: scikit-learn's
  English stop words ("not", "two", "again"), the words of the VADER sentiment lexicon, which say how
  the customer feels, not about what ("disappointed", "avoid" — they may still stand in a phrase beside a
  word that names the topic: "poor quality"), a few words every review uses (REVIEW_FILLER: "took",
  "buying"), time words in every seed language, alone or in a phrase ("weeks", "forever", "woche":
  GENERIC_WORDS), words of what happens to any order alone ("arrive": EVENT_WORDS), and for German, French,
  Spanish and Italian, which have no stop-word list installed, a short hand list of their commonest function and
  feeling words ("viel", "nie", "enttäuscht"), taken for a review of no known language too. Learned terms leave
  out the stop words, filler and time words as well.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import cache

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

ASPECTS = ("delivery", "quality", "price", "size_fit", "packaging", "customer_service")
# Learned words (not CJK runs) shorter than this are not learned: they are function words more often than not.
MIN_LEARNED_LENGTH = 4
CJK = {"zh", "ja", "ko"}

SEEDS: dict[str, dict[str, tuple[str, ...]]] = {
    "delivery": {
        "en": ("deliver", "shipping", "shipped", "arrive", "arrival", "courier", "dispatch", "late", "tracking",
               "postage", "transit"),
        "de": ("lieferung", "geliefert", "versand", "zustellung", "paket kam", "kurier", "verspät"),
        "fr": ("livraison", "livré", "expédition", "colis", "transporteur", "retard"),
        "es": ("entrega", "envío", "envio", "llegó", "llego", "retraso", "mensajero"),
        "it": ("consegna", "spedizione", "corriere", "arrivato", "ritardo"),
        "zh": ("物流", "快递", "送货", "发货", "配送", "到货", "送到", "速度慢"),
        "ja": ("配送", "発送", "届い", "到着", "配達"),
    },
    "quality": {
        "en": ("quality", "broke", "broken", "defect", "durable", "cheaply made", "flimsy", "sturdy", "faulty",
               "stopped working"),
        "de": ("qualität", "kaputt", "defekt", "verarbeitung", "hochwertig", "billig verarbeitet"),
        "fr": ("qualité", "cassé", "défectueux", "solide", "fragile"),
        "es": ("calidad", "roto", "defectuoso", "resistente"),
        "it": ("qualità", "rotto", "difettoso", "resistente"),
        "zh": ("质量", "品质", "做工", "坏了", "故障", "耐用", "质感"),
        "ja": ("品質", "壊れ", "不良", "作り"),
    },
    "price": {
        "en": ("price", "expensive", "cheap", "value for money", "overpriced", "cost", "worth"),
        "de": ("preis", "teuer", "günstig", "preiswert", "überteuert"),
        "fr": ("prix", "cher", "bon marché", "rapport qualité"),
        "es": ("precio", "caro", "barato"),
        "it": ("prezzo", "caro", "economico"),
        "zh": ("价格", "价钱", "性价比", "便宜", "贵", "划算", "实惠"),
        "ja": ("価格", "値段", "高い", "安い", "コスパ"),
    },
    "size_fit": {
        "en": ("size", "fit", "fits", "too small", "too big", "too large", "tight", "loose", "sizing"),
        "de": ("größe", "passt", "zu klein", "zu groß", "passform", "eng"),
        "fr": ("taille", "trop petit", "trop grand", "serré", "ajust"),
        "es": ("talla", "tamaño", "pequeño", "grande", "ajusta"),
        "it": ("taglia", "misura", "piccolo", "grande", "vestibilità"),
        "zh": ("尺码", "尺寸", "大小", "偏小", "偏大", "太小", "太大", "合身"),
        "ja": ("サイズ", "小さ", "大き", "きつ"),
    },
    "packaging": {
        "en": ("packaging", "package", "packed", "box", "wrapping", "crushed", "damaged box"),
        "de": ("verpackung", "verpackt", "karton", "schachtel"),
        "fr": ("emballage", "emballé", "carton", "boîte"),
        "es": ("embalaje", "empaque", "caja", "envoltorio"),
        "it": ("imballaggio", "confezione", "scatola", "imballo"),
        "zh": ("包装", "外包装", "盒子", "纸箱", "破损"),
        "ja": ("梱包", "包装", "箱"),
    },
    "customer_service": {
        "en": ("customer service", "support", "refund", "return", "staff", "seller", "service", "replied",
               "response", "helpful", "rude"),
        "de": ("kundenservice", "kundendienst", "service", "rückerstattung", "rücksendung", "freundlich", "support"),
        "fr": ("service client", "sav", "remboursement", "retour", "vendeur", "accueil"),
        "es": ("atención al cliente", "servicio", "reembolso", "devolución", "vendedor"),
        "it": ("assistenza", "servizio clienti", "rimborso", "reso", "venditore"),
        "zh": ("客服", "服务", "售后", "退货", "退款", "态度", "服务员", "前台"),
        "ja": ("対応", "サービス", "返品", "返金", "店員"),
    },
}

_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
_TOKEN = re.compile(r"[^\W\d_]+", re.UNICODE)
# Where a review's clauses end: sentence punctuation (Latin and CJK), and the words that turn a review around.
_CLAUSE_BREAK = re.compile(r"[.!?;:\n。！？；]+|\b(?:but|however|although|though|aber|doch|mais|pero|sino|ma|però)\b"
                           r"|但是|可是|不过|但|でも|しかし|けど", re.IGNORECASE)
# Words reviews use whatever they are about, that neither the stop-word list nor the sentiment lexicon holds.
REVIEW_FILLER = frozenset({"took", "take", "takes", "buy", "buying", "bought", "purchase", "purchased", "order",
                           "ordered", "product", "item", "items", "got", "get", "gets", "came", "really", "just",
                           "thing", "things", "ever", "still", "also", "will", "did", "does", "say"})
# Units of time: typical of late deliveries and short-lived goods, but alone they name no topic ("weeks", "days"
# were themes of the demo, "week" a learned quality term that put "delivery took a week" under quality).
# Time words alike, English and the other seed languages' ("took forever", "nach einer Woche kaputt": "forever" and
# "woche kaputt" were themes): never a theme, nor in a theme's phrase, nor learned, whatever the review's language
# (none of them is an English product word; "tag", "ore", "mes" are, and are left out).
GENERIC_WORDS = frozenset("""
day days week weeks month months year years hour hours minute minutes time times today yesterday tomorrow forever
ages ago later soon weekend night nights morning
tage tagen woche wochen monat monate monaten jahr jahre jahren stunde stunden minuten zeit heute gestern ewig ewigkeit
jour jours semaine semaines mois année années heure heures temps toujours aujourd hier
día días semana semanas meses año años hora horas tiempo siempre hoy ayer
giorno giorni settimana settimane mese mesi anno anni tempo sempre oggi ieri
""".split())
# Words of what happens to any order ("took two weeks to arrive": "arrive" was a theme): in a phrase they may name
# the topic ("box arrived" crushed), alone they name none; never a theme alone, as feeling words.
EVENT_WORDS = frozenset("""
arrive arrives arriving arrived come comes coming receive received receiving wait waited waiting send sent sending
went going goes use used using make made makes look looks looked seem seems seemed keep kept
""".split())
# The seed languages other than English have no stop-word list installed: their commonest function words (never
# a theme, nor in a theme's phrase, nor learned) and feeling words (never a theme alone), by hand. Applied to reviews
# of those languages only: "hat", "bin", "man", "die" are English product words ("the hat is too small").
OTHER_LANGUAGES = frozenset({"de", "fr", "es", "it"})
OTHER_STOP_WORDS = frozenset("""
aber alle auch auf aus bei bin bis das dem den der des die doch ein eine einem einen einer es für ganz gar hat
hatte ich ist kam kein keine man mehr mit nach nicht nie noch nur oder schon sehr sich sie sind und viel von war
was wie wieder wir zu zum zur vor seit während bereits erst
le la les un une des du de et est était très trop pas ne jamais plus pour avec mais encore je il elle ce cette en
sur au aux que qui après avant depuis pendant déjà
el los las una es muy demasiado no nunca más para con pero otra vez del que lo después antes desde durante ya
il lo gli è molto troppo non mai più per con ma di che dopo prima durante già
""".split())
OTHER_FEELING_WORDS = frozenset("""
enttäuscht zufrieden gerne gern toll tolle super schlecht schlechte leider okay
déçu déçue content contente satisfait satisfaite parfait nul
decepcionado decepcionada contento contenta genial perfecto malo
deluso delusa contento contenta perfetto ottimo
""".split())
# Never learned as an aspect's term: words every review may use whatever it is about ("what" was learned for price
# from "not what I expected", "from" for customer service, "does" for size / fit in the demo).
_NOT_LEARNED = ENGLISH_STOP_WORDS | REVIEW_FILLER | GENERIC_WORDS  # and OTHER_STOP_WORDS in those languages
_CJK_RUN = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7af]+")


@dataclass(frozen=True)
class AspectConfig:
    """How terms are learned: minimum lift over the shop's base rate, reviews using the term, terms kept."""

    min_lift: float = 4.0
    min_reviews: int = 5
    max_learned: int = 8
    themes: int = 12
    max_learn: int = 50_000  # reviews (a seeded sample) that terms and themes are learned from
    seed: int = 0


@dataclass(frozen=True)
class AspectResult:
    """Per review (input order): the aspects it mentions; for the shop: the terms learned per aspect and
    the themes of its negative reviews."""

    aspects: list[list[str]]
    learned: dict[str, list[str]]
    themes: list[str]


def review_terms(text: str, language: str) -> set[str]:
    """The terms of one review: lower-case words, and 2–3-character runs of CJK text."""
    text = text.lower()
    terms = set(_WORD.findall(text)) if language not in CJK else set()
    for run in _CJK_RUN.findall(text):
        for n in (2, 3):
            terms.update(run[i:i + n] for i in range(len(run) - n + 1))
    return terms


def _seed_pattern(words: tuple[str, ...], cjk: bool, whole: tuple[str, ...] = ()) -> re.Pattern:
    """Seeds match as prefixes of a word ("deliver" in "delivered"); `whole` words (the learned terms) only as
    themselves: a learned "too" must not find "took"."""
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    if cjk:
        return re.compile("|".join(filter(None, (alternatives, *map(re.escape, whole)))), re.IGNORECASE)
    parts = [rf"\b(?:{alternatives})"] if alternatives else []
    if whole:
        parts.append(rf"\b(?:{'|'.join(re.escape(w) for w in sorted(whole, key=len, reverse=True))})\b")
    return re.compile("|".join(parts), re.IGNORECASE)


def _patterns(language: str, learned: dict[str, list[str]]) -> dict[str, re.Pattern]:
    cjk = language in CJK
    out = {}
    for aspect in ASPECTS:
        words = tuple(SEEDS[aspect].get(language) or SEEDS[aspect]["en"])
        terms = tuple(t for t in learned.get(aspect, ()) if (_CJK_RUN.fullmatch(t) is not None) == cjk)
        out[aspect] = _seed_pattern(words, cjk, whole=terms)
    return out


def aspects_find(texts: list[str], languages: list[str], *, labels: np.ndarray | None = None,
                 config: AspectConfig = AspectConfig()) -> AspectResult:
    """Aspects of each review from the seeds, then from the seeds plus the terms learned from these reviews.

    `labels`: 1 positive, 0 negative, NaN unknown (for the negative themes); optional."""
    given, languages = languages, _seed_languages(languages)
    sample = np.arange(len(texts))
    if len(texts) > config.max_learn:
        sample = np.sort(np.random.RandomState(config.seed).choice(len(texts), config.max_learn, replace=False))
    first = _match([texts[i] for i in sample], [languages[i] for i in sample], {})
    terms = [review_terms(texts[i], languages[i]) - (OTHER_STOP_WORDS if languages[i] in OTHER_LANGUAGES else set())
             for i in sample]
    document_frequency = Counter(term for review in terms for term in review)
    total = max(len(sample), 1)
    seeds_lower = {w.lower() for aspect in SEEDS.values() for words in aspect.values() for w in words}
    learned: dict[str, list[str]] = {}
    for aspect in ASPECTS:
        members = [terms[i] for i, found in enumerate(first) if aspect in found]
        if len(members) < config.min_reviews:
            continue
        inside = Counter(term for review in members for term in review)
        scored = []
        for term, count in inside.items():
            if count < config.min_reviews or term in seeds_lower or term in _NOT_LEARNED:
                continue
            if _CJK_RUN.fullmatch(term) is None and len(term) < MIN_LEARNED_LENGTH:
                continue  # "too", "not", "was": short words say how, not what about
            lift = (count / len(members)) / (document_frequency[term] / total)
            if lift >= config.min_lift:
                scored.append((lift * np.log1p(count), term))
        learned[aspect] = [term for _, term in sorted(scored, reverse=True)[:config.max_learned]]
    found = _match(texts, languages, learned)
    themes = _themes([texts[i] for i in sample], [given[i] for i in sample],  # "" (unknown) stays unknown
                     None if labels is None else np.asarray(labels, dtype=float)[sample], config)
    return AspectResult(aspects=found, learned=learned, themes=themes)


def aspects_match(texts: list[str], languages: list[str], learned: dict[str, list[str]]) -> list[list[str]]:
    """Aspects of each review from the seeds and terms learned before (`AspectResult.learned` of an analysis):
    reviews arriving after it, without learning again."""
    return _match(texts, _seed_languages(languages), learned)


def aspect_clauses(texts: list[str], languages: list[str], aspects: list[list[str]],
                   learned: dict[str, list[str]]) -> list[dict[str, str]]:
    """Per review, the clauses (see `clauses`) that mention each of its `aspects`, joined: only for aspects that
    some of the review's clauses do not mention ("Fits perfectly, but box arrived crushed": size / fit → "Fits
    perfectly", packaging → "box arrived crushed"). An aspect left out is about the whole review, which then
    judges it; an aspect none of the clauses finds alone (a seed split by a break) is left out too."""
    languages = _seed_languages(languages)
    cache: dict[str, dict[str, re.Pattern]] = {}
    out: list[dict[str, str]] = []
    for text, language, found in zip(texts, languages, aspects, strict=True):
        parts = clauses(text or "")
        spans: dict[str, str] = {}
        if len(parts) > 1 and found:
            patterns = cache.get(language)
            if patterns is None:
                patterns = cache[language] = _patterns(language, learned)
            for aspect in found:
                mentioning = [part for part in parts if patterns[aspect].search(part)]
                if 0 < len(mentioning) < len(parts):
                    spans[aspect] = ". ".join(mentioning)
        out.append(spans)
    return out


def _seed_languages(languages: list[str]) -> list[str]:
    """A language with seeds, or English (Chinese for other CJK languages)."""
    return [lang if lang in SEEDS["delivery"] else ("en" if lang not in CJK else "zh") for lang in languages]


def _match(texts: list[str], languages: list[str], learned: dict[str, list[str]]) -> list[list[str]]:
    cache: dict[str, dict[str, re.Pattern]] = {}
    out = []
    for text, language in zip(texts, languages, strict=True):
        patterns = cache.get(language)
        if patterns is None:
            patterns = cache[language] = _patterns(language, learned)
        out.append([aspect for aspect, pattern in patterns.items() if pattern.search(text or "")])
    return out


def clauses(text: str) -> list[str]:
    """The clauses of a review: split at sentence punctuation and at "but" (and its kin in the seed languages),
    stripped, empty ones dropped. "Fits perfectly, but box arrived crushed." → ["Fits perfectly,", "box arrived
    crushed"]."""
    return [part.strip(" ,") for part in _CLAUSE_BREAK.split(text or "") if part.strip(" ,")]


@cache
def _sentiment_words() -> frozenset[str]:
    """The single words of the VADER lexicon (the pinned vaderSentiment package's), lower-case."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return frozenset(w for w in SentimentIntensityAnalyzer().lexicon if w.isalpha())


def theme_terms(text: str, language: str) -> set[str]:
    """The terms a review may add to the themes: CJK runs as `review_terms`; in other languages the words of 3
    letters or more that are neither stop words, time words, sentiment words, words of what happens to any order
    ("arrive") nor review filler, and the two-word phrases of one clause made of no stop, time or filler word and
    holding at least one such content word ("poor quality", "customer service", "box arrived"; not "not buying",
    "took two", "woche kaputt")."""
    if language in CJK:
        return review_terms(text, language)
    # A review of no known language ("Nach einer Woche kaputt." has none of the guesser's words) takes every seed
    # language's function and feeling words: with English ones only, its German filler made themes.
    other = language in OTHER_LANGUAGES or language not in SEEDS["delivery"]
    stop = ENGLISH_STOP_WORDS | REVIEW_FILLER | GENERIC_WORDS | (OTHER_STOP_WORDS if other else frozenset())
    feeling = _sentiment_words() | EVENT_WORDS | (OTHER_FEELING_WORDS if other else frozenset())
    out: set[str] = set()
    for clause in clauses(text.lower()):
        tokens = _TOKEN.findall(clause)
        content = [len(t) >= 3 and t not in stop and t not in feeling for t in tokens]
        out.update(t for t, keep in zip(tokens, content, strict=True) if keep)
        for i in range(len(tokens) - 1):
            a, b = tokens[i], tokens[i + 1]
            if (content[i] or content[i + 1]) and a not in stop and b not in stop and min(len(a), len(b)) >= 3:
                out.add(f"{a} {b}")
    return out


def _themes(texts: list[str], languages: list[str], labels: np.ndarray | None, config: AspectConfig) -> list[str]:
    if labels is None:
        return []
    terms = [theme_terms(text or "", language) for text, language in zip(texts, languages, strict=True)]
    negative = Counter(t for review, y in zip(terms, labels, strict=True) if y == 0 for t in review)
    positive = Counter(t for review, y in zip(terms, labels, strict=True) if y == 1 for t in review)
    n_neg, n_pos = max(int((labels == 0).sum()), 1), max(int((labels == 1).sum()), 1)
    scored = []
    for term, count in negative.items():
        if count < config.min_reviews:
            continue
        odds = np.log((count + 1) / (n_neg + 2)) - np.log((positive[term] + 1) / (n_pos + 2))
        scored.append((odds * np.log1p(count), term.count(" "), term))  # a phrase wins a tie with its word
    chosen: list[str] = []
    for _, _, term in sorted(scored, reverse=True):
        if any(_overlaps(term, kept) for kept in chosen):  # "送货慢" and "货慢", "quality" and "poor quality": one
            continue
        chosen.append(term)
        if len(chosen) == config.themes:
            break
    return chosen


def _overlaps(a: str, b: str) -> bool:
    """Whether one term holds the other: a CJK run inside another, or a word of a phrase ("late" is in "delivery
    late", not in "translate")."""
    if " " not in a and " " not in b and (_CJK_RUN.fullmatch(a) or _CJK_RUN.fullmatch(b)):
        return a in b or b in a
    words_a, words_b = set(a.split()), set(b.split())
    return words_a <= words_b or words_b <= words_a
