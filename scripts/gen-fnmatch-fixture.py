"""Generates crates/tethered-core/tests/fixtures/fnmatch.json: random fnmatch patterns and
names with CPython's own fnmatchcase() answer, so the Rust glob translation is checked against
the real thing. Run with CPython 3.11 (upstream's verified version): python3 scripts/gen-fnmatch-fixture.py
"""
import fnmatch
import json
import random
import sys

rng = random.Random(20261129)
PATTERN_ALPHABET = list("ab.-*?[]!^\\{},z/é") + ["[a-c]", "[!a]", "[z-a]", "[]]", "[!]]", "*.", "ü"]
NAME_ALPHABET = list("ab.-!^\\{},z/c]é[") + ["ü", "例"]

cases = []
seen = set()
while len(cases) < 2000:
    pat = "".join(rng.choice(PATTERN_ALPHABET) for _ in range(rng.randint(1, 7)))
    if pat in seen:
        continue
    seen.add(pat)
    names = ["".join(rng.choice(NAME_ALPHABET) for _ in range(rng.randint(0, 7))) for _ in range(8)]
    # Names derived from the pattern itself, so that matches are common, not rare.
    for star, any_char in (("", "a"), ("a.b", "é"), ("/", "]"), ("ü例", "-")):
        names.append(pat.replace("*", star).replace("?", any_char))
    try:
        answers = [fnmatch.fnmatchcase(n, pat) for n in names]
    except Exception:  # noqa: BLE001 - patterns CPython itself cannot compile are skipped
        continue
    cases.append({"pattern": pat, "names": names, "expected": answers})

json.dump({"python": sys.version.split()[0], "cases": cases}, sys.stdout, ensure_ascii=False, indent=0)
