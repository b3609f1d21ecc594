"""Resolve medication strings as people write them into drugs, with dose, route and frequency."""

from __future__ import annotations

import re

from . import sig
from .model import Quantity, Resolution, Strength, Suggestion
from .vocab import LazyPattern, fold, normalize_name

CODE_RE = re.compile(r"^\s*(?:rxcui|rxnorm|rx\s*cui)\s*[:#= ]?\s*(\d{1,9})\b(.*)$", re.S)
_TOKEN_RE = re.compile(r"[a-z0-9]+|\x00\d+\x00")
# "alcohol-free" says the product has no alcohol; it must not resolve to alcohol.
_ALCOHOL_FREE = re.compile(r"\b(?:alcohol|ethanol)[\s-]*free\b|\b(?:no|without)\s+alcohol\b")
_ML_PER_UNIT = {"tsp": 5.0, "teaspoon": 5.0, "teaspoons": 5.0, "tbsp": 15.0, "tablespoon": 15.0, "tablespoons": 15.0}
_SEPARATORS = LazyPattern(r"[;,+]|\b(?:and|plus|with|also|then)\b")  # only when a line names several drugs
_NUMBER_SIGN = re.compile(r"#\s*(\d)|\bno\.?\s*(\d)\b")
MAX_INPUT_CHARS = 1000
NOISE = (
    set(sig.ROUTE_WORDS)
    | set(sig.FORM_WORDS)
    | sig.RELEASE_WORDS
    | sig.SALT_WORDS
    | sig.SIG_WORDS
)


class NameTable:
    """The lookup tables the resolver needs, taken from the compiled index."""

    def __init__(self, names: dict, products: dict, codes: dict, lookalikes: dict | None = None, max_words: int = 1):
        self.names = names  # normalised name -> "drug:ID" | "product:ID"
        self.products = products  # id -> {"ingredients": [...], "route": str|None}
        self.codes = codes  # rxcui -> {"drugs": [...], "route": str|None}
        self.lookalikes = lookalikes if lookalikes is not None else {}  # normalised name -> [partner names]
        self.max_words = max_words
        self._buckets: dict | None = None

    def targets(self, owner: str) -> tuple[list, str | None]:
        """Return the drug ids and implied route of a name's owner."""
        kind, ident = owner.split(":", 1)
        if kind == "drug":
            return [ident], None
        product = self.products[ident]
        return list(product["ingredients"]), product.get("route")

    def suggest(self, word: str, limit: int = 3) -> tuple:
        """Suggest up to `limit` close names sharing the first letters; never applied."""
        if self._buckets is None:
            buckets: dict = {}
            for name in self.names:
                buckets.setdefault(name[:2], []).append(name)
            self._buckets = buckets
        word = normalize_name(word)
        if len(word) < 3:
            return ()
        pool = [n for n in self._buckets.get(word[:2], []) if abs(len(n) - len(word)) <= max(3, len(word) // 3)]
        import difflib  # only when a word is not recognised

        close = difflib.get_close_matches(word, pool, n=limit * 3, cutoff=0.75)
        out = []
        seen_owners = set()
        for name in close:
            owner = self.names[name]
            if owner in seen_owners:
                continue
            seen_owners.add(owner)
            drugs, _ = self.targets(owner)
            out.append(Suggestion(name=name, drugs=tuple(drugs), lookalike_of=tuple(self.lookalikes.get(name, ()))))
            if len(out) == limit:
                break
        return tuple(out)


def _mark(text: str, pattern: re.Pattern, found: list, kind: str) -> str:
    """Replace each match of `pattern` with a position marker and remember it."""

    def repl(match):
        found.append((kind, match))
        return f" \x00{len(found) - 1}\x00 "

    return pattern.sub(repl, text)


def _quantity(number: str, unit: str) -> Quantity | None:
    mass = sig.mass_unit(unit)
    return Quantity(value=float(number), unit=mass) if mass else None


def resolve(table: NameTable, text: str) -> Resolution:
    """Resolve one medication string; unknown words are reported, never dropped or corrected."""
    original = text
    text = text[:MAX_INPUT_CHARS]
    code = CODE_RE.match(fold(text))
    if code:
        entry = table.codes.get(code.group(1))
        if entry is None:
            return Resolution(text=original, status="unresolved", unrecognized=(text.strip(),), via="code")
        route = entry.get("route")
        drugs = tuple(sorted(set(entry["drugs"])))
        rest = code.group(2).strip()
        if rest:
            # "rxcui:197391 20 mg QID": the code names the drugs, the rest is the sig.
            # A strength in the sig replaces the product's; otherwise the product display supplies it.
            base = " ".join(drugs) if sig.has_strength(fold(rest)) else (entry.get("display") or " ".join(drugs))
            parsed = resolve(table, f"{base} {rest}")
            if tuple(sorted(parsed.drugs)) == drugs:
                return parsed._replace(text=original, drugs=drugs, matched=(f"rxcui {code.group(1)}",), via="code")
        return Resolution(text=original, status="resolved", drugs=drugs, matched=(f"rxcui {code.group(1)}",),
                          route=route, route_source="product" if route else None, via="code")

    folded = _ALCOHOL_FREE.sub(" ", sig.undot(fold(text)))
    folded_for_separators = folded
    folded = _NUMBER_SIGN.sub(lambda m: f" {m.group(1) or m.group(2)}", folded)
    frequency, freq_spans = sig.parse_frequency(folded)
    for start, end in sorted(freq_spans, reverse=True):
        folded = folded[:start] + " " + folded[end:]
    found: list = []
    folded = _mark(folded, sig.RATE_RE, found, "rate")
    folded = _mark(folded, sig.CONC_RE, found, "conc")
    folded = _mark(folded, sig.TIMES_RE, found, "times")
    folded = _mark(folded, sig.COMBO_RE, found, "combo")
    folded = _mark(folded, sig.QUANTITY_RE, found, "count")
    folded = _mark(folded, sig.VOLUME_RE, found, "volume")
    folded = _mark(folded, sig.STRENGTH_RE, found, "strength")

    tokens = _TOKEN_RE.findall(folded)
    words = [(i, t) for i, t in enumerate(tokens) if not t.startswith("\x00")]
    matches: list = []  # (start_token_index, end_token_index, name, owner)
    leftovers: list = []
    k = 0
    indication: list = []
    after_for = False
    while k < len(words):
        hit = None
        for length in range(min(table.max_words, len(words) - k), 0, -1):
            phrase = " ".join(w for _, w in words[k:k + length])
            owner = table.names.get(phrase)
            if owner is not None:
                hit = (words[k][0], words[k + length - 1][0], phrase, owner)
                k += length
                break
        if hit:
            matches.append(hit)
            continue
        position, word = words[k]
        if word == "for" and matches:
            after_for = True
        elif after_for and word in sig.INDICATION_SET:
            # Only known indication words are skipped after "for"; a drug name there still
            # resolves, and any other word makes the line partial.
            indication.append(word)
            k += 1
            continue
        leftovers.append((position, word))
        k += 1

    drugs: list = []
    route = None
    route_source = None
    for _, _, _, owner in matches:
        ids, implied = table.targets(owner)
        for ident in ids:
            if ident not in drugs:
                drugs.append(ident)
        if implied and route is None:
            route, route_source = implied, "product"

    unrecognized = []
    stated_route = None
    form_route = None
    for _, word in leftovers:
        if word in sig.ROUTE_WORDS:
            if sig.ROUTE_WORDS[word] and stated_route is None:
                stated_route = sig.ROUTE_WORDS[word]
            continue
        if word in sig.FORM_WORDS:
            if sig.FORM_WORDS[word] and form_route is None:
                form_route = sig.FORM_WORDS[word]
            continue
        if word in NOISE or word.isdigit() or re.fullmatch(r"\d+(?:[a-z]{1,3})?", word):
            continue
        unrecognized.append(word)
    if stated_route:
        route, route_source = stated_route, "stated"
    elif route is None and form_route:
        route, route_source = form_route, "form"
    for kind, match in found:
        if kind == "rate" and route is None and match.group(3).startswith(("h", "hr", "hour")):
            route, route_source = "transdermal", "form"

    # Two separately named medicines joined by ';', ',', '+', 'and', 'plus', 'with': each may have its own sig.
    multi_line = len({m[3] for m in matches}) > 1 and bool(_SEPARATORS.search(folded_for_separators))
    strengths, dose_note = _strengths(tokens, matches, found, frequency, table, multi_line)
    if not drugs:
        status = "unresolved"
        if not unrecognized:
            unrecognized = [normalize_name(text)] if normalize_name(text) else []
    else:
        status = "partial" if unrecognized else "resolved"
    suggestions: tuple = ()
    if unrecognized:
        suggestions = _suggest_for(table, unrecognized)
    return Resolution(
        text=original,
        status=status,
        drugs=tuple(drugs),
        matched=tuple(m[2] for m in matches),
        unrecognized=tuple(unrecognized),
        suggestions=suggestions,
        route=route,
        route_source=route_source,
        frequency=frequency,
        strengths=strengths,
        dose_note=dose_note if drugs else None,
        indication=" ".join(indication) or None,
    )


def _suggest_for(table: NameTable, unrecognized: list) -> tuple:
    out: list = []
    phrases = [" ".join(unrecognized)] + unrecognized if len(unrecognized) > 1 else unrecognized
    for phrase in phrases:
        for s in table.suggest(phrase):
            if all(s.name != o.name for o in out):
                out.append(s)
    return tuple(out[:3])


def _strengths(tokens, matches, found, frequency, table, multi_line=False) -> tuple[tuple, str | None]:
    """Attribute parsed strengths to drugs and compute daily doses where possible."""
    # Each drug of each match, in the order written, with the token index where it ends.
    drug_positions = []
    for _start, end, _, owner in matches:
        ids, _ = table.targets(owner)
        for ident in ids:
            drug_positions.append((end, ident, len(ids) > 1))
    if not drug_positions:
        return (), None
    count = 1.0
    volume = None
    per_drug: dict = {}
    several: set = set()
    note = None
    if multi_line:
        note = "several medications written on one line; daily dose not computed"
    for index, token in enumerate(tokens):
        if not token.startswith("\x00"):
            continue
        kind, match = found[int(token.strip("\x00"))]
        if kind == "count":
            word = match.group(1)
            count = sig._COUNT_WORDS.get(word, None) or float(word)
            continue
        if kind == "times":
            count = float(match.group(1))
            continue
        if kind == "volume":
            volume = float(match.group(1)) * _ML_PER_UNIT.get(match.group(2), 1.0)
            continue
        if kind == "combo":
            note = "combination strength written without units per ingredient; daily dose not computed"
            continue
        preceding = [d for d in drug_positions if d[0] < index]
        target = preceding[-1] if preceding else drug_positions[0]
        if target[1] in per_drug:
            # A second strength for the same drug ("20 mg QID plus 20 mg qhs"): no single daily dose.
            several.add(target[1])
            continue
        if target[2] and not preceding:
            continue
        per_drug[target[1]] = (kind, match)

    strengths = []
    for _, ident, _ in drug_positions:
        if ident not in per_drug or any(s.drug == ident for s in strengths):
            continue
        kind, match = per_drug[ident]
        if kind == "rate":
            q = _quantity(match.group(1), match.group(2))
            if q is None:
                continue
            if match.group(3).startswith(("d", "24")):
                strengths.append(Strength(drug=ident, per_dose=None, daily=q, basis="stated-daily"))
            else:
                strengths.append(Strength(drug=ident, per_dose=q, daily=Quantity(value=round(q.value * 24.0, 6), unit=q.unit), basis="rate"))
            continue
        if kind == "conc":
            q = _quantity(match.group(1), match.group(2))
            per_volume = float(match.group(3)) if match.group(3) else 1.0
            if match.group(4) == "l":
                per_volume *= 1000.0
            if q is None or per_volume <= 0:
                note = note or "concentration has a zero volume; daily dose not computed"
                continue
            if volume is None:
                strengths.append(Strength(drug=ident, per_dose=None, daily=None, basis="scheduled"))
                note = note or "concentration given without a volume per dose; daily dose not computed"
                continue
            dose = Quantity(value=q.value / per_volume * volume, unit=q.unit)
        else:
            dose = _quantity(match.group(1), match.group(2))
            if dose is None:
                continue
            dose = Quantity(value=dose.value * count, unit=dose.unit)
        daily = None
        basis = "scheduled"
        if ident in several:
            note = note or "several doses for one drug on one line; daily dose not computed"
        elif multi_line:
            pass
        elif frequency is None:
            note = note or "no frequency given; daily dose not computed"
        elif frequency.per_day is None:
            note = note or "as-needed without an interval; daily dose not computed"
        else:
            daily = Quantity(value=round(dose.value * frequency.per_day, 6), unit=dose.unit)
            basis = "as-needed-maximum" if frequency.as_needed else "scheduled"
        strengths.append(Strength(drug=ident, per_dose=dose, daily=daily, basis=basis))
    return tuple(strengths), note
