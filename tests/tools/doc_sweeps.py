#!/usr/bin/python3
"""Every sweep file the docs show loads: each ```yaml block of README.md and
docs/*.md is given to `distsweep plan`. A block with both task: and scales: is
a whole sweep file; a fragment (one section, or a bullet's indented example) is
laid over a whole one from the docs, key by top-level key: the corpus sweep of
the README ("name: population") when the fragment names an evaluation set or a
source, else sweeps/demo.yaml (the count task whose lengths the examples use). Passes when plan exits 0, or
exits 2 on something outside the file (a base model directory, a corpus shard
the docs name but no test has), i.e. with no FILE:LINE:COL error of the sweep
file itself. The point: a renamed key or a changed rule fails here instead of in
a user's hands.

usage: doc_sweeps.py SOURCE_DIR DISTSWEEP"""
import glob
import os
import re
import subprocess
import sys
import tempfile
import textwrap

import yaml


def blocks(path):
    text = open(path).read()
    for m in re.finditer(r"```yaml\n(.*?)```", text, re.S):
        yield text[:m.start()].count("\n") + 2, textwrap.dedent(m.group(1))


def main():
    src, exe = sys.argv[1], sys.argv[2]
    files = [os.path.join(src, "README.md")] + sorted(glob.glob(os.path.join(src, "docs", "*.md")))
    found = [(os.path.relpath(f, src), line, yaml.safe_load(b), b) for f in files for line, b in blocks(f)]
    whole = [(f, line, y) for f, line, y, _ in found if isinstance(y, dict) and "task" in y and "scales" in y]
    by_name = {y.get("name"): y for _, _, y in whole}
    count = yaml.safe_load(open(os.path.join(src, "sweeps", "demo.yaml")))
    corpus = by_name.get("population")
    failed, n = 0, 0
    with tempfile.TemporaryDirectory(prefix="ds_doc_sweeps_") as work:
        for f, line, y, text in found:
            if not isinstance(y, dict):
                print(f"{f}:{line}: not a mapping")
                failed += 1
                continue
            if not ("task" in y and "scales" in y):
                base = corpus if "eval" in y or "task.sources" in text else count
                if base is None:
                    print(f"{f}:{line}: no whole sweep to lay the fragment over")
                    failed += 1
                    continue
                y = dict(base, **y)
            n += 1
            name = f"{f.replace('/', '_')}_{line}.yaml"
            path = os.path.join(work, name)
            with open(path, "w") as out:
                yaml.safe_dump(y, out, sort_keys=False)
            p = subprocess.run([exe, "plan", path], capture_output=True, text=True, timeout=120)
            own = re.search(re.escape(name) + r":\d+:\d+:", p.stderr)
            ok = p.returncode == 0 or (p.returncode == 2 and not own)
            print(f"{f}:{line}: {'ok' if ok else 'FAILED'} (plan exit {p.returncode}"
                  f"{': ' + p.stderr.strip().splitlines()[-1][:200] if p.returncode else ''})")
            if not ok:
                print(p.stderr)
                failed += 1
    print(f"doc_sweeps: {n} sweep(s) from the docs, {failed} failed")
    return 1 if failed or n == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
