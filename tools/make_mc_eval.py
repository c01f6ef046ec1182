#!/usr/bin/python3
"""make_mc_eval: a multiple-choice evaluation set for `distsweep eval --mc` (src/mcfile.h,
docs/tasks.md "Multiple-choice evaluation sets") from MMLU's CSVs or CommonsenseQA's JSONL.

usage: make_mc_eval.py --tokenizer TOKENIZER.json --format mmlu|csqa [--scoring letter|completion]
                       [--shots K --dev DEV...] [--texts TEXTS.jsonl] -o OUT.bin INPUT...

Layouts:
  mmlu  CSV without a header, one file per subject named <subject>_test.csv (as in the MMLU
        release; _val.csv, _dev.csv and a plain .csv name work too): question, the 4 choices,
        the answer letter A-D. --dev gives the subjects' <subject>_dev.csv files; the first K
        rows of a subject's dev file are its K shots (lm-eval's first_n sampler).
  csqa  CommonsenseQA JSONL: {"id", "question": {"stem", "choices": [{"label", "text"}] x 5},
        "answerKey"}, labels A-E. --dev gives JSONL files whose first K items are the shots.

Prompts, as lm-evaluation-harness builds them (lm_eval/tasks/mmlu/default/_default_template_yaml,
the per-subject description in lm_eval/tasks/mmlu/default/mmlu_<subject>.yaml,
lm_eval/tasks/mmlu/continuation/_continuation_template_yaml, lm_eval/tasks/commonsense_qa/
default.yaml; the few-shot context of lm_eval/api/task.py: description, then each shot as
doc_to_text + " " + its target + "\\n\\n", then the item's doc_to_text):
  letter      (mmlu) "The following are multiple choice questions (with answers) about
              {subject, _ -> space}.\\n\\n" + shots + "{question.strip()}\\nA. {A}\\nB. {B}\\nC. {C}\\n
              D. {D}\\nAnswer:", continuations " A" ... " D" (a shot ends "Answer: X\\n\\n");
              (csqa) no description, "Question: {stem.strip()}\\nA. ...\\nE. ...\\nAnswer:", " A" ... " E"
  completion  (mmlu, lm-eval's mmlu_continuation) "The following are questions (with answers)
              about {subject}.\\n\\n" + shots + "Question: {question.strip()}\\nAnswer:",
              continuations " " + each choice's text; (csqa) the same without a description
Context and continuation are tokenized as lm-eval's HFLM._encode_pair does
(lm_eval/models/huggingface.py): trailing whitespace of the context moves to the continuation,
the whole string is encoded, and the continuation is what follows the context's own encoding;
no special tokens are added. Each continuation also stores len(choice text) in characters
(without the leading space), the divisor of lm-eval's acc_norm, which completion scoring uses.

Errors (a CSV row without 4 choices, an answer outside A-D, a JSONL line without the fields, a
subject without its dev file, ...) name FILE:LINE and exit 2; nothing is written then.
--texts writes each item's prompt, continuations and label as JSON lines (for inspection and
tests). Needs the `tokenizers` package (pip install tokenizers); no network.
"""
import argparse
import csv
import json
import os
import struct
import sys

MAGIC, VERSION = 20261207, 1
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class InputError(Exception):
    """A problem in an input file, already worded FILE:LINE: message."""


def subject_of(path):
    """MMLU's subject from a file name: abstract_algebra_test.csv -> abstract_algebra."""
    base = os.path.basename(path)
    for suffix in ("_test.csv", "_val.csv", "_dev.csv", ".csv"):
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base


def read_mmlu(path):
    """[(line, question, [4 choices], label)] of an MMLU CSV."""
    out = []
    with open(path, newline="", encoding="utf-8") as f:
        r = csv.reader(f)
        line = 1
        while True:
            try:
                row = next(r)
            except StopIteration:
                break
            except csv.Error as e:
                raise InputError(f"{path}:{line}: not CSV: {e}")
            start, line = line, r.line_num + 1
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != 6:
                raise InputError(f"{path}:{start}: expected a question, 4 choices and an answer letter "
                                 f"(6 fields), got {len(row)} field(s)")
            ans = row[5].strip()
            if len(ans) != 1 or ans not in "ABCD":
                raise InputError(f"{path}:{start}: answer {row[5]!r} is not one of A, B, C, D")
            out.append((start, row[0], row[1:5], "ABCD".index(ans)))
    return out


def read_csqa(path):
    """[(line, stem, [5 choice texts], label)] of a CommonsenseQA JSONL file."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line, text in enumerate(f, 1):
            if not text.strip():
                continue
            try:
                d = json.loads(text)
            except json.JSONDecodeError as e:
                raise InputError(f"{path}:{line}: not JSON: {e}")
            try:
                stem = d["question"]["stem"]
                choices = d["question"]["choices"]
                key = d["answerKey"]
                by_label = {c["label"]: c["text"] for c in choices}
            except (KeyError, TypeError):
                raise InputError(f"{path}:{line}: needs the fields question.stem, question.choices "
                                 "[{label, text}] and answerKey")
            if not isinstance(stem, str) or sorted(by_label) != list("ABCDE") or len(choices) != 5 or \
                    not all(isinstance(t, str) for t in by_label.values()):
                raise InputError(f"{path}:{line}: needs 5 choices labelled A-E, got labels "
                                 f"{[c.get('label') if isinstance(c, dict) else c for c in choices]}")
            if key not in by_label:
                raise InputError(f"{path}:{line}: answerKey {key!r} is not one of A, B, C, D, E")
            out.append((line, stem, [by_label[x] for x in "ABCDE"], "ABCDE".index(key)))
    return out


def doc_text(fmt, scoring, question, choices):
    """lm-eval's doc_to_text of one item (see the module's docstring)."""
    if scoring == "completion":
        return f"Question: {question.strip()}\nAnswer:"
    lines = "".join(f"\n{LETTERS[k]}. {c}" for k, c in enumerate(choices))
    head = f"Question: {question.strip()}" if fmt == "csqa" else question.strip()
    return f"{head}{lines}\nAnswer:"


def choice_texts(scoring, choices):
    """lm-eval's doc_to_choice: the strings the continuations are made of (" " + each)."""
    return list(LETTERS[: len(choices)]) if scoring == "letter" else list(choices)


def description(fmt, scoring, subject):
    if fmt != "mmlu":
        return ""
    what = "multiple choice questions" if scoring == "letter" else "questions"
    return f"The following are {what} (with answers) about {subject.replace('_', ' ')}.\n\n"


def context(fmt, scoring, subject, shots, question, choices):
    """description + k shots + the item's doc_to_text (lm_eval/api/task.py fewshot_context)."""
    s = description(fmt, scoring, subject)
    for _, q, ch, lab in shots:
        s += doc_text(fmt, scoring, q, ch) + " " + choice_texts(scoring, ch)[lab] + "\n\n"
    return s + doc_text(fmt, scoring, question, choices)


def encode_pair(tok, ctx, cont):
    """lm-eval's HFLM._encode_pair: (context ids, continuation ids)."""
    n = len(ctx) - len(ctx.rstrip())
    if n:
        cont = ctx[-n:] + cont
        ctx = ctx[:-n]
    whole = tok.encode(ctx + cont, add_special_tokens=False).ids
    c = tok.encode(ctx, add_special_tokens=False).ids
    return c, whole[len(c):]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--tokenizer", required=True, help="a Hugging Face tokenizer.json")
    ap.add_argument("--format", required=True, choices=["mmlu", "csqa"])
    ap.add_argument("--scoring", default="letter", choices=["letter", "completion"])
    ap.add_argument("--shots", type=int, default=0)
    ap.add_argument("--dev", nargs="+", action="extend", default=[],
                    help="files of the shots (before -o, or repeat --dev: the list ends at the next option)")
    ap.add_argument("--texts", help="also write each item's prompt and continuations (JSON lines)")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("inputs", nargs="+")
    a = ap.parse_args(argv)
    if a.shots < 0:
        ap.error("--shots must be >= 0")
    if a.shots and not a.dev:
        ap.error("--shots K needs --dev files")
    try:
        from tokenizers import Tokenizer
    except ImportError:
        print("make_mc_eval: needs the tokenizers package (pip install tokenizers)", file=sys.stderr)
        return 2
    try:
        tok = Tokenizer.from_file(a.tokenizer)
    except Exception as e:  # tokenizers raises its own Exception type
        print(f"make_mc_eval: {a.tokenizer}: not a tokenizer.json: {e}", file=sys.stderr)
        return 2
    vocab = tok.get_vocab_size(with_added_tokens=True)
    read = read_mmlu if a.format == "mmlu" else read_csqa
    K = 4 if a.format == "mmlu" else 5
    items, texts, counts = [], [], []
    try:
        dev = {}
        for p in a.dev:
            rows = read(p)
            key = subject_of(p) if a.format == "mmlu" else "*"
            dev.setdefault(key, []).extend(rows)
        for p in a.inputs:
            subject = subject_of(p)
            shots = []
            if a.shots:
                pool = dev.get(subject if a.format == "mmlu" else "*", [])
                if len(pool) < a.shots:
                    raise InputError(f"{p}:1: --shots {a.shots} needs {a.shots} dev items of "
                                     f"'{subject}', the --dev files have {len(pool)}"
                                     + (f" (expected {subject}_dev.csv)" if a.format == "mmlu" else ""))
                shots = pool[: a.shots]
            rows = read(p)
            if not rows:
                raise InputError(f"{p}:1: no items")
            for line, q, ch, lab in rows:
                ctx = context(a.format, a.scoring, subject, shots, q, ch)
                ctexts = choice_texts(a.scoring, ch)
                c_ids, conts = None, []
                for t in ctexts:
                    ci, co = encode_pair(tok, ctx, " " + t)
                    if c_ids is not None and ci != c_ids:
                        raise InputError(f"{p}:{line}: the context tokenizes differently per choice")
                    c_ids = ci
                    if not co:
                        raise InputError(f"{p}:{line}: choice {LETTERS[len(conts)]} tokenizes to nothing")
                    conts.append(co)
                if not c_ids:
                    raise InputError(f"{p}:{line}: the prompt tokenizes to nothing")
                items.append((lab, c_ids, conts, [max(1, len(t)) for t in ctexts]))
                texts.append({"source": p, "line": line, "context": ctx,
                              "continuations": [" " + t for t in ctexts], "label": lab})
            counts.append((subject if a.format == "mmlu" else os.path.basename(p), len(rows), p))
    except InputError as e:
        print(f"make_mc_eval: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"make_mc_eval: {e.filename}: {e.strerror}", file=sys.stderr)
        return 2
    width = 2 if vocab <= 65536 else 4
    top = max(max(c) for _, c, conts, _ in items for c in [c] + conts)
    if top >= vocab:
        print(f"make_mc_eval: token id {top} >= the tokenizer's vocabulary {vocab}", file=sys.stderr)
        return 2
    header = [MAGIC, VERSION, width, len(items), K, 0 if a.scoring == "letter" else 1, vocab]
    header += [0] * (256 - len(header))
    fmt = "<%d" + ("H" if width == 2 else "I")
    tmp = a.output + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<256i", *header))
        for lab, c_ids, conts, norms in items:
            f.write(struct.pack(f"<{2 + 2 * K}i", lab, len(c_ids), *[len(c) for c in conts], *norms))
            toks = c_ids + [t for c in conts for t in c]
            f.write(struct.pack(fmt % len(toks), *toks))
    os.replace(tmp, a.output)
    if a.texts:
        with open(a.texts, "w", encoding="utf-8") as f:
            for t in texts:
                f.write(json.dumps(t) + "\n")
    for name, n, p in counts:
        print(f"{name}: {n} items ({p})")
    longest = max(len(c) + max(len(x) for x in conts) for _, c, conts, _ in items)
    print(f"wrote {a.output}: {len(items)} items, {K} choices, scoring {a.scoring}, {a.shots} shot(s), "
          f"vocabulary {vocab}, {width}-byte tokens, longest row {longest} tokens")
    return 0


if __name__ == "__main__":
    sys.exit(main())
