"""Resolve medication strings as people write them into drugs, with dose, route and frequency."""

from __future__ import annotations

import re

from . import sig
from .model import Dose, Quantity, Resolution, Strength, Suggestion, to_unit
from .vocab import LazyPattern, fold, normalize_name

CODE_RE = LazyPattern(r"^\s*(?:rxcui|rxnorm|rx\s*cui)\s*[:#= ]?\s*(\d{1,9})\b(.*)$", re.S, needles=("rx",))
_TOKEN_RE = re.compile(r"[a-z0-9]+|\x00\d+\x00|[;,+]")
# Between two names, these make them separate medicines written on one line ("with" does not:
# "promethazine with codeine" is one product).
_SEPARATOR_TOKENS = frozenset(";,+")
_PRODUCT_SEPARATORS = _SEPARATOR_TOKENS | {"and", "plus", "also", "then"}
# "alcohol-free" says the product has no alcohol; it must not resolve to alcohol.
_ALCOHOL_FREE = LazyPattern(r"\b(?:alcohol|ethanol)[\s-]*free\b|\b(?:no|without)\s+alcohol\b", needles=("alcohol", "ethanol"))
_ML_PER_UNIT = {"tsp": 5.0, "teaspoon": 5.0, "teaspoons": 5.0, "teaspoonful": 5.0, "teaspoonfuls": 5.0,
                "tbsp": 15.0, "tablespoon": 15.0, "tablespoons": 15.0, "tablespoonful": 15.0, "tablespoonfuls": 15.0}
_SEPARATORS = LazyPattern(r"[;,+]|\b(?:and|plus|with|also|then)\b")  # only when a line names several drugs
_NUMBER_SIGN = LazyPattern(r"#\s*(\d)|\bno\.?\s*(\d)\b", needles=("#", "no"))
_BRACKET = LazyPattern(r"\[([^\[\]]*)\]", needles=("[",))
# A line that says something is not taken: "denies alcohol", "no EtOH", "alcohol: none".
_NEGATED_LEAD = LazyPattern(
    r"^\s*(?:pt\s+|patient\s+)?(?:denies|denied|deny|never|no(?!\.?\s*\d)|negative\s+for|quit|abstains?\s+from"
    r"|non[\s-]?drinker|does\s+not\s+(?:drink|use|take)|doesn't\s+(?:drink|use|take)|not\s+taking)\b"
)
_NEGATED_TAIL = LazyPattern(r"\s*(?:use)?\s*[:=-]\s*(?:no|none|denies|denied|never|negative|not\s+currently|not\s+at\s+all"
                            r"|0(?:\s+(?:standard\s+)?(?:drinks?|units?|glasses))?(?:\s+(?:per|a|/)\s*(?:day|week))?)\s*\.?\s*$",
                            needles=(":", "=", "-"))
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

    def __init__(self, names: dict, products: dict, codes: dict, lookalikes: dict | None = None, max_words: int = 1,
                 negatable: frozenset = frozenset()):
        self.names = names  # normalised name -> "drug:ID" | "product:ID"
        self.products = products  # id -> {"ingredients": [...], "route": str|None}
        self.codes = codes  # rxcui -> {"drugs": [...], "route": str|None}
        self.lookalikes = lookalikes if lookalikes is not None else {}  # normalised name -> [partner names]
        self.max_words = max_words
        # Drugs for which "denies X" / "X: none" means not taken (alcohol). For medicines a
        # negation is not trusted: the drug is still checked and the line is partial.
        self.negatable = negatable
        self._known_products: frozenset | None = None
        self._buckets: dict | None = None

    def known_products(self) -> frozenset:
        """The ingredient sets of the products the rules list (built on first use)."""
        if self._known_products is None:
            self._known_products = frozenset(frozenset(p["ingredients"]) for p in self.products.values())
        return self._known_products

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
    """A mass in mg or mcg (grams are written as mg: 1.5 g -> 1500 mg)."""
    mass = sig.mass_unit(unit)
    if mass == "g":
        return Quantity(value=round(float(number) * 1000.0, 6), unit="mg")
    return Quantity(value=float(number), unit=mass) if mass else None


def resolve(table: NameTable, text: str) -> Resolution:
    """Resolve one medication string; unknown words are reported, never dropped or corrected."""
    original = text
    text = text[:MAX_INPUT_CHARS]
    lowered = fold(text)
    lead, tail = _NEGATED_LEAD.match(lowered), _NEGATED_TAIL.search(lowered)
    if lead or tail:
        # "denies alcohol", "no benzodiazepines", "EtOH: none": a statement that something is
        # NOT taken. It is read (so the line is not unresolved) and takes part in no rule.
        rest_text = lowered[lead.end():] if lead else lowered[:tail.start()]
        rest = resolve(table, rest_text)
        # Only a whole, plain statement is a negation: "denies tobacco, reports alcohol 2 drinks/day"
        # is not, and a line that is not fully understood is checked as written.
        if (rest.drugs and rest.status == "resolved" and all(d in table.negatable for d in rest.drugs)
                and not _SEPARATORS.search(rest_text) and "report" not in rest_text):
            return Resolution(text=original, status="resolved", matched=rest.matched,
                              note=f"read as not taken ({', '.join(rest.drugs)}): not checked")
    bracket = _BRACKET.search(text)
    if bracket:
        # RxNorm's "INGREDIENT STRENGTH FORM [Brand]": the ingredients before the bracket are the
        # product. Brand families reuse names across ingredients (Unisom SleepTabs: doxylamine;
        # SleepGels: diphenhydramine), so the bracket is a label and never adds an ingredient.
        outside = resolve(table, text[:bracket.start()] + " " + text[bracket.end():])
        if outside.drugs:
            return outside._replace(text=original, note=f"[{bracket.group(1).strip()}] read as a brand label only")
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

    folded = _ALCOHOL_FREE.sub(" ", sig.normalize(sig.undot(fold(text))))
    folded_for_separators = folded
    folded = _NUMBER_SIGN.sub(lambda m: f" {m.group(1) or m.group(2)}", folded)
    found: list = []
    # The order's own ceiling ("max 4 doses per day") is not a schedule: set it aside first.
    folded = _mark(folded, sig.CAP_RE, found, "cap")
    frequency, freq_spans = sig.parse_frequency(folded)
    for start, end in sorted(freq_spans, reverse=True):
        folded = folded[:start] + " " + folded[end:]
    folded = _mark(folded, sig.TOTAL_RE, found, "total")
    folded = _mark(folded, sig.RATE_RE, found, "rate")
    folded = _mark(folded, sig.CONC_RE, found, "conc")
    folded = _mark(folded, sig.TIMES_RE, found, "times")
    folded = _mark(folded, sig.QUANTITY_RE, found, "count")
    folded = _mark(folded, sig.QUANTITY_AFTER_RE, found, "count-after")
    folded = _mark(folded, sig.STRENGTH_RANGE_RE, found, "strength-range")
    folded = _mark(folded, sig.COMBO_RE, found, "combo")
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
            if any(w in _SEPARATOR_TOKENS for _, w in words[k:k + length]):
                continue  # a name never spans a separator ("promethazine; codeine" is two medicines)
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
        if word in _SEPARATOR_TOKENS:
            continue
        if word in sig.ROUTE_WORDS:
            if sig.ROUTE_WORDS[word]:
                # The last route stated wins: "oxycodone oral concentrate 0.25 mL SL" is given sublingually.
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
        elif kind in ("count", "count-after") and route is None:
            # "1-2 tabs": the count's unit is a dosage form, and it says the route as a form word would.
            unit = match.group(3) if kind == "count" else match.group(1)
            if sig.FORM_WORDS.get(unit):
                route, route_source = sig.FORM_WORDS[unit], "form"

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
        products=_products(tokens, matches, table, bool(_RXNORM_COMBINATION.search(folded_for_separators))),
    )


def _products(tokens, matches, table, rxnorm_combination: bool) -> tuple:
    """Group the drugs of a line by product.

    One product: a name the rules list as a product (NyQuil, Norco), an RxNorm string that
    gives each ingredient its strength ("hydrocodone 10 MG / acetaminophen 325 MG"), or
    names written together with no separator whose ingredients are exactly those of a known
    product ("promethazine-codeine"). Anything else is separate medicines, which pair with
    each other: "oxycodone/alprazolam" is no product, and missing that pair is the worst failure.
    """
    if rxnorm_combination:
        return ()
    groups: list = []
    previous_end = None
    for start, end, _, owner in matches:
        ids = [i for i in table.targets(owner)[0]]
        together = previous_end is not None and not any(t in _PRODUCT_SEPARATORS for t in tokens[previous_end + 1:start])
        if together and frozenset(groups[-1] + ids) in table.known_products():
            groups[-1].extend(i for i in ids if i not in groups[-1])
        elif not groups or not set(ids) <= set(groups[-1]):  # a brand after its generic names the same product
            groups.append(list(dict.fromkeys(ids)))
        previous_end = end
    return tuple(tuple(g) for g in groups) if len(groups) > 1 else ()


# "A 10 MG / B 325 MG Oral Tablet": RxNorm writes one product's ingredients with a strength each.
_RXNORM_COMBINATION = LazyPattern(r"\d\s*(?:mg|mcg|ml|unt|%)\b[^/]*\s/\s[^/]*\d\s*(?:mg|mcg|ml|unt|%)\b", needles=(" / ",))


def _suggest_for(table: NameTable, unrecognized: list) -> tuple:
    out: list = []
    phrases = [" ".join(unrecognized)] + unrecognized if len(unrecognized) > 1 else unrecognized
    for phrase in phrases:
        for s in table.suggest(phrase):
            if all(s.name != o.name for o in out):
                out.append(s)
    return tuple(out[:3])


def _strengths(tokens, matches, found, frequency, table, multi_line=False) -> tuple[tuple, str | None]:
    """Attribute parsed amounts to drugs and compute each drug's daily dose where the text allows.

    Daily dose = amount per administration x administrations per day, kept as a range
    (Dose min..max): "1-2 tabs every 4-6 hours" allows 4 to 12 tablets a day. What the
    order states wins over what the product label says: "(20 mg total)" is the amount of
    one administration, "400 mcg/day" is the daily dose whatever the vial's mcg/mL. As
    needed, only the ceiling is known ("up to"). Returns the strengths and, when no daily
    dose could be computed, why.
    """
    # Each drug of each match, in the order written, with the token index where it ends.
    drug_positions = []
    for _start, end, _, owner in matches:
        ids, _ = table.targets(owner)
        for ident in ids:
            drug_positions.append((end, ident, len(ids) > 1))
    if not drug_positions:
        return (), None
    single = len({d[1] for d in drug_positions}) == 1
    counts: list = []  # (min, max, unit) of units per administration, in the order written
    volumes: list = []  # (min, max) mL per administration
    amounts: dict = {}  # drug -> {kind: [match, ...]}
    cap = None
    combo = False
    for index, token in enumerate(tokens):
        if not token.startswith("\x00"):
            continue
        kind, match = found[int(token.strip("\x00"))]
        if kind == "count":
            low = sig.count_of(match.group(1))
            high = sig.count_of(match.group(2)) if match.group(2) else low
            counts.append((min(low, high), max(low, high), sig.count_unit(match.group(3))))
        elif kind == "count-after":
            low = sig.count_of(match.group(2))
            high = sig.count_of(match.group(3)) if match.group(3) else low
            counts.append((min(low, high), max(low, high), sig.count_unit(match.group(1))))
        elif kind == "times":
            counts.append((float(match.group(1)), float(match.group(1)), None))
        elif kind == "volume":
            factor = _ML_PER_UNIT.get(match.group(3), 1.0)  # mL and cc: 1
            low = float(match.group(1)) * factor
            high = float(match.group(2)) * factor if match.group(2) else low
            volumes.append((min(low, high), max(low, high)))
        elif kind == "cap":
            cap = match
        elif kind == "combo" or (kind == "strength-range" and not single):
            combo = True
        else:
            preceding = [d for d in drug_positions if d[0] < index]
            target = preceding[-1] if preceding else drug_positions[0]
            if target[2] and not preceding and kind == "strength":
                continue  # a bare number before a combination product's name is not one ingredient's strength
            amounts.setdefault(target[1], {}).setdefault(kind, []).append(match)

    strengths = []
    notes = []
    several_counts = len(set(counts)) > 1
    for _, ident, _ in drug_positions:
        if any(s.drug == ident for s in strengths):
            continue
        given = amounts.get(ident, {})
        count = counts[0] if counts and (single or given) else None
        strength, why = _one_strength(ident, given, count, volumes[0] if volumes else None, frequency,
                                      several_counts or len(set(volumes)) > 1, multi_line, combo, cap)
        if strength is not None:
            strengths.append(strength)
        if why and why not in notes:
            notes.append(why)
    computed = [s for s in strengths if s.daily is not None]
    if computed and len(computed) == len({d[1] for d in drug_positions}):
        return tuple(strengths), None
    if not strengths and not notes and frequency is None:
        return (), None  # a bare name: nothing about the dose was written
    return tuple(strengths), ("; ".join(notes) if notes else "no strength or count given") + "; daily dose not computed"


def _mass(match, first: int = 1) -> Quantity | None:
    return _quantity(match.group(first), match.group(first + 1))


def _one_strength(ident, given, count, volume, frequency, several, multi_line, combo, cap):
    """Return (Strength or None, why the daily dose is unknown or None) for one drug of a line."""
    scheduled = "scheduled"
    totals = given.get("total", [])
    rates = given.get("rate", [])
    ranges = given.get("strength-range", [])
    plain = given.get("strength", []) + ranges
    if len({m.group(0) for m in totals}) > 1 or len({m.group(0) for m in rates}) > 1:
        return Strength(drug=ident, per_dose=None, daily=None, basis=scheduled), "several doses for one drug on one line"
    if totals and totals[0].group(4):  # "(200 mcg/hr total)"
        q = _quantity(totals[0].group(1), totals[0].group(3))
        per_day = round(q.value * 24.0, 6)
        return Strength(drug=ident, per_dose=Dose(min=q.value, max=q.value, unit=q.unit),
                        daily=Dose(min=per_day, max=per_day, unit=q.unit), basis="rate"), None
    if rates and not totals:
        q = _mass(rates[0])
        if q is None:
            return None, "rate not in mg or mcg"
        if rates[0].group(3).startswith(("d", "24")):
            return Strength(drug=ident, per_dose=None, daily=Dose(min=q.value, max=q.value, unit=q.unit), basis="stated-daily"), None
        patches = count[0:2] if count and count[2] == "patch" else (1.0, 1.0)
        low, high = round(q.value * patches[0] * 24.0, 6), round(q.value * patches[1] * 24.0, 6)
        return Strength(drug=ident, per_dose=Dose(min=q.value * patches[0], max=q.value * patches[1], unit=q.unit),
                        daily=Dose(min=low, max=high, unit=q.unit), basis="rate"), None
    if totals:
        match = totals[0]
        low_q, high_q = _quantity(match.group(1), match.group(3)), _quantity(match.group(2) or match.group(1), match.group(3))
        per_dose = Dose(min=min(low_q.value, high_q.value), max=max(low_q.value, high_q.value), unit=low_q.unit)
        per_dose = _widened(per_dose, plain, ranges, count)
    elif given.get("conc") and volume is not None:
        match = given["conc"][0]
        q = _mass(match)
        per_volume = float(match.group(3)) if match.group(3) else 1.0
        if match.group(4) == "l":
            per_volume *= 1000.0
        if q is None or per_volume <= 0:
            return None, "concentration not in mg or mcg per volume"
        per_dose = Dose(min=round(q.value / per_volume * volume[0], 6), max=round(q.value / per_volume * volume[1], 6), unit=q.unit)
    elif plain:
        if len({m.group(0) for m in plain}) > 1:
            return Strength(drug=ident, per_dose=None, daily=None, basis=scheduled), "several doses for one drug on one line"
        match = plain[0]
        if match in ranges:
            low_q, high_q = _quantity(match.group(1), match.group(3)), _quantity(match.group(2), match.group(3))
            per_dose = Dose(min=min(low_q.value, high_q.value), max=max(low_q.value, high_q.value), unit=low_q.unit)
        else:
            q = _mass(match)
            if q is None:
                return None, None
            low, high = (count[0], count[1]) if count else (1.0, 1.0)
            per_dose = Dose(min=round(q.value * low, 6), max=round(q.value * high, 6), unit=q.unit)
    elif given.get("conc"):
        return Strength(drug=ident, per_dose=None, daily=None, basis=scheduled), "concentration given without a volume per dose"
    elif count is not None and count[2]:
        per_dose = Dose(min=count[0], max=count[1], unit=count[2])
    elif volume is not None:
        per_dose = Dose(min=volume[0], max=volume[1], unit="mL")
    else:
        return None, "combination strength written without units per ingredient" if combo else None
    if several:
        return Strength(drug=ident, per_dose=None, daily=None, basis=scheduled), "several schedules on one line"
    if multi_line:
        return Strength(drug=ident, per_dose=per_dose, daily=None, basis=scheduled), "several medications written on one line"
    if frequency is None:
        return Strength(drug=ident, per_dose=per_dose, daily=None, basis=scheduled), "no frequency given"
    if frequency.per_day is None:
        why = "several schedules on one line" if ";" in frequency.text else "as needed without an interval"
        return Strength(drug=ident, per_dose=per_dose, daily=None, basis=scheduled), why
    # The order's own ceiling lowers what an as-needed or ranged order allows; it never lowers a
    # fixed schedule that exceeds it ("3 tabs TID, max 60 mg/day": the schedule is what is given).
    ranged = frequency.as_needed or per_dose.min != per_dose.max or frequency.fewest != frequency.per_day
    high = round(per_dose.max * frequency.per_day, 6)
    high = _capped(high, per_dose, count, cap) if ranged else high
    if frequency.as_needed:
        return Strength(drug=ident, per_dose=per_dose, daily=Dose(min=None, max=high, unit=per_dose.unit), basis="as-needed-maximum"), None
    low = min(round(per_dose.min * frequency.fewest, 6), high)
    return Strength(drug=ident, per_dose=per_dose, daily=Dose(min=low, max=high, unit=per_dose.unit), basis=scheduled), None


def _widened(per_dose: Dose, plain: list, ranges: list, count) -> Dose:
    """An amount in brackets ("(20 mg)", "(20 mg total)") against the count times the line's one strength.

    They agree on well-written lines ("10 MG tablet, take 2 tablets (20 mg total)"). When they do
    not ("20 mg tablet, take 2 tablets (20 mg)": the bracket may repeat the tablet's strength),
    the dose is the range between the two, so that maximum-dose rules see the larger.
    """
    if not count or len({m.group(0) for m in plain}) != 1 or plain[0] in ranges:
        return per_dose
    q = _mass(plain[0])
    if q is None:
        return per_dose
    low, high = to_unit(Quantity(value=q.value * count[0], unit=q.unit), per_dose.unit), to_unit(Quantity(value=q.value * count[1], unit=q.unit), per_dose.unit)
    if low is None or high is None or (abs(low - per_dose.min) < 1e-6 and abs(high - per_dose.max) < 1e-6):
        return per_dose
    return Dose(min=round(min(per_dose.min, low), 6), max=round(max(per_dose.max, high), 6), unit=per_dose.unit)


def _capped(high: float, per_dose: Dose, count, cap) -> float:
    """Apply the order's own ceiling ("max 6 tabs/day", "max 40 mg/day") to the most it allows."""
    if cap is None:
        return high
    value, unit = float(cap.group(1)), cap.group(2)
    mass = sig.mass_unit(unit)
    if mass:
        limit = to_unit(Quantity(value=value, unit=mass), per_dose.unit)
    elif unit.startswith("dose"):
        limit = per_dose.max * value
    elif count and count[1]:
        limit = per_dose.max / count[1] * value  # the strength of one unit times the units allowed
    else:
        limit = None
    return min(high, round(limit, 6)) if limit is not None else high
