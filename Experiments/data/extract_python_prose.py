#!/usr/bin/env python3
"""Extracts English prose from the Python reference manual shipped with CPython
(`pydoc_data.topics`, the text `help()` shows) into a small text file, the haystack of the
prose-needle task (`ProseNeedleTask`).

Only prose paragraphs are kept: code blocks (indented lines), grammar productions, tables and
headings are dropped, so the haystack reads like running English text. Paragraphs are written one per
line-block, separated by a blank line, in the order of the sorted topic names, and the file is cut at
MAX_BYTES on a paragraph boundary.

Usage: python3 Experiments/data/extract_python_prose.py [OUTPUT]
"""
import re
import sys

import pydoc_data.topics

MAX_BYTES = 280_000
DEFAULT_OUTPUT = "Sources/EvaluationTasks/Resources/python-reference-prose.txt"


def paragraphs(text):
    """Blank-line separated blocks of unindented lines, re-flowed to one line each."""
    for block in re.split(r"\n\s*\n", text):
        lines = block.split("\n")
        if any(line.startswith((" ", "\t")) for line in lines):
            continue  # code, grammar, indented notes, tables
        joined = " ".join(line.strip() for line in lines).strip()
        yield joined


def is_prose(paragraph):
    if len(paragraph) < 200 or not paragraph.endswith("."):
        return False
    if "***" in paragraph or "===" in paragraph or "::=" in paragraph or "|" in paragraph:
        return False
    letters = sum(c.isalpha() or c == " " for c in paragraph)
    return letters / len(paragraph) > 0.85 and paragraph[0].isupper()


def main():
    output = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUTPUT
    kept, size = [], 0
    for topic in sorted(pydoc_data.topics.topics):
        for paragraph in paragraphs(pydoc_data.topics.topics[topic]):
            if not is_prose(paragraph):
                continue
            encoded = len(paragraph.encode("utf-8")) + 2
            if size + encoded > MAX_BYTES:
                break
            kept.append(paragraph)
            size += encoded
    with open(output, "w", encoding="utf-8") as f:
        f.write("\n\n".join(kept) + "\n")
    print(f"{output}: {len(kept)} paragraphs, {size} bytes (Python {sys.version.split()[0]})")


if __name__ == "__main__":
    main()
