"""Drive pddiansm (the ANSM-thesaurus checker on PyPI) for the side-by-side benchmark.

Runs inside pddiansm's own virtual environment (benchmarks/run.py creates it);
never imported by interactions. Usage:
    peer_pddiansm.py check NAME...          one whole-process check, prints the interactions
    peer_pddiansm.py rate SECONDS < lists.json   in-process checks/s over the given lists (JSON on stdout)
"""

import json
import statistics
import sys
import time

from pddiansm.detector.PDDIsimpleDrugsDetector import PDDIsimpleDrugsDetector
from pddiansm.pydantic.interfaces_input import SimpleDrug
from pddiansm.pydantic.interfaces_pddi import ClassThesaurus
from pddiansm.thesaurus.ThesauriJson import ThesauriJson

ALCOHOL = "alcool (boisson ou excipient)"


def detector():
    det = PDDIsimpleDrugsDetector(ThesauriJson().get_thesaurus("2020_01"))
    # The thesaurus has alcohol interactions but no index entry for the word "alcool".
    entry = ClassThesaurus(drug_class=ALCOHOL, parent_drug_classes=[])
    det.search_thes_entries.hashmap_drug_classes["alcool"] = entry
    det.search_thes_entries.hashmap_drug_classes[ALCOHOL] = entry
    return det


def run(det, names):
    return det.detect_pddi_multiple_drugs([SimpleDrug(id=i, substances=[n]) for i, n in enumerate(names)])


def main():
    if sys.argv[1] == "check":
        for found in run(detector(), sys.argv[2:]):
            p = found.pddi_detected
            print("/".join(s.level for s in p.severity_levels), p.moc1, p.moc2, sep="\t")
        return
    seconds = float(sys.argv[2])
    lists = json.load(sys.stdin)
    det = detector()
    for names in lists[:50]:
        run(det, names)
    rates = []
    for _ in range(5):
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 5:
            run(det, lists[count % len(lists)])
            count += 1
        rates.append(count / (time.perf_counter() - start))
    print(json.dumps({"median_checks_per_s": statistics.median(rates), "runs": rates}))


if __name__ == "__main__":
    main()
