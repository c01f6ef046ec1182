#!/usr/bin/env python3
"""Every citation in the project points at something that exists.

Comments and docs cite files (`src/store.h`, `docs/engine.md`) and sections of
docs (`docs/engine.md "Precision"`, the quoted text being the start of a
heading of that file, backticks ignored). A renamed file or section leaves
such citations dangling; this check lists each one as FILE:LINE: citation and
exits 1. Usage: doc_citations.py REPO_ROOT
"""
import os
import re
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.getcwd()
SCANNED_DIRS = ["src", "kernels", "tools", "tests", "docs", "slurm", "sweeps"]
SCANNED_FILES = ["README.md", "CMakeLists.txt"]
EXTS = (".c", ".h", ".cu", ".cuh", ".md", ".py", ".sh", ".cmake", ".yaml", ".txt")

# a path cited in prose: one of the project's top-level folders, then a name
# with an extension (globs and placeholders such as tests/<area>/ are skipped)
PATH_RE = re.compile(r"(?<![\w./$-])((?:src|kernels|tools|tests|docs|slurm|sweeps)/[\w./-]*\w\.(?:c|h|cu|cuh|md|py|sh|cmake|yaml))\b")
# a section cited: docs/X.md, optionally a comma, then "Heading start"; the
# citation may wrap onto the next comment line
SECTION_RE = re.compile(r'(docs/[\w-]+\.md)(?:,\s*|\s+)(?:(?://|\*|#)\s*)?"([A-Za-z0-9`][^"\n]*)"')


def headings(path):
    out = []
    with open(path, encoding="utf-8") as f:
        in_code = False
        for line in f:
            if line.startswith("```"):
                in_code = not in_code
            elif not in_code and line.startswith("#"):
                out.append(line.lstrip("#").strip().replace("`", ""))
    return out


def files():
    for name in SCANNED_FILES:
        p = os.path.join(ROOT, name)
        if os.path.exists(p):
            yield p
    for d in SCANNED_DIRS:
        for dirpath, _, names in os.walk(os.path.join(ROOT, d)):
            for n in sorted(names):
                if n.endswith(EXTS):
                    yield os.path.join(dirpath, n)


def main():
    bad = []
    cache = {}
    n_paths = n_sections = 0
    for path in files():
        rel = os.path.relpath(path, ROOT)
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        for m in PATH_RE.finditer(text):
            cited = m.group(1)
            stem = os.path.splitext(os.path.basename(cited))[0]
            if "*" in cited or "<" in cited or stem.isupper():  # a placeholder: docs/X.md
                continue
            n_paths += 1
            if not os.path.exists(os.path.join(ROOT, cited)):
                line = text.count("\n", 0, m.start()) + 1
                bad.append(f"{rel}:{line}: {cited} does not exist")
        for m in SECTION_RE.finditer(text):
            doc, section = m.group(1), m.group(2).replace("`", "")
            n_sections += 1
            line = text.count("\n", 0, m.start()) + 1
            dp = os.path.join(ROOT, doc)
            if not os.path.exists(dp):
                bad.append(f"{rel}:{line}: {doc} does not exist")
                continue
            if doc not in cache:
                cache[doc] = headings(dp)
            if not any(h.startswith(section) for h in cache[doc]):
                bad.append(f'{rel}:{line}: {doc} has no section "{section}"')
    for b in bad:
        print(b)
    print(f"doc_citations: {n_paths} file citations, {n_sections} section citations, "
          f"{len(bad)} dangling")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
