"""Summarise a mutmut run per file (``./dev mutate``): the share of mutants the domain tests kill.

Reads ``mutmut results --all true`` on stdin; prints killed / total per mutated file and every
mutant that was not killed; exits 1 when a file is below the bar (docs/testing.md argues each
survivor).
"""

from __future__ import annotations

import re
import sys
from collections import Counter

BAR = 0.95
LINE = re.compile(r"^\s*(?P<module>consent_svc(?:\.\w+)+?)\.x\S*__mutmut_\d+: (?P<status>.+)$")


def main() -> int:
    totals: Counter[str] = Counter()
    killed: Counter[str] = Counter()
    others: list[str] = []
    for line in sys.stdin:
        match = LINE.match(line)
        if match is None:
            continue
        module, status = match["module"], match["status"].strip()
        totals[module] += 1
        if status == "killed":
            killed[module] += 1
        else:
            others.append(line.strip())
    if not totals:
        print("no mutmut results found (run ./dev mutate)", file=sys.stderr)
        return 1
    failing = False
    for module in sorted(totals):
        share = killed[module] / totals[module]
        failing |= share < BAR
        print(f"{module:34} {killed[module]:5} / {totals[module]:5} killed  {share:7.2%}")
    for line in others:
        print(f"  not killed: {line}")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
