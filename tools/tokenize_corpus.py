#!/usr/bin/env python3
"""tokenize_corpus: text -> llm.c token shards for a `task: {kind: corpus}` sweep.

    tools/tokenize_corpus.py --tokenizer TOKENIZER.json -o PREFIX [--text-field F]
        [--answer-field F] [--split-on LINE] [--shard-tokens N] [--eot-token TOK] INPUT...

Reads plain text files (one document per file, or documents separated by
lines equal to --split-on, e.g. '%' for fortune files) or JSONL files (*.jsonl,
or any file with --text-field: one JSON object per line, its text in
--text-field). Encodes every document with the Hugging Face tokenizer (the
`tokenizers` library, no network), puts the end-of-text token (--eot-token,
default "<|endoftext|>"; must be in the vocabulary) after every document, and
writes PREFIX_000000.bin, PREFIX_000001.bin, ... of at most --shard-tokens
tokens each (default 1e8) in llm.c's format (docs/tasks.md "Corpus"): a
256 x int32 little-endian header (magic 20240520, version 1, count) and uint16
tokens when every id fits, else magic 20240801, version 7 and uint32 tokens.

With --answer-field F (JSONL only), each document is its text, then " " + its
answer, and a sidecar PREFIX_NNNNNN.mask per shard (magic 20261206, version 1,
the same count, then one byte per token: 1 for the answer's tokens) marks what
a `loss: answer` source scores.

Prints the documents and tokens read per input file, the total, and the files
written. Exit 2 on bad input (a JSONL line that is not an object with the
field: FILE:LINE), nothing written then.
"""
import argparse
import json
import os
import struct
import sys

MAGIC_U16, VERSION_U16 = 20240520, 1
MAGIC_U32, VERSION_U32 = 20240801, 7
MAGIC_MASK, VERSION_MASK = 20261206, 1


def fail(msg):
    print(f"tokenize_corpus: {msg}", file=sys.stderr)
    sys.exit(2)


def header(magic, version, count):
    h = [0] * 256
    h[0], h[1], h[2] = magic, version, count
    return struct.pack("<256i", *h)


def documents(path, args):
    """Yields (text, answer or None) of every document of one input file."""
    jsonl = args.text_field is not None or path.endswith(".jsonl")
    try:
        with open(path, encoding="utf-8") as f:
            if jsonl:
                field = args.text_field or "text"
                for no, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        obj = json.loads(line)
                    except json.JSONDecodeError as e:
                        fail(f"{path}:{no}: not a JSON line: {e.msg}")
                    if not isinstance(obj, dict) or not isinstance(obj.get(field), str):
                        fail(f"{path}:{no}: no string field '{field}'")
                    ans = None
                    if args.answer_field is not None:
                        if not isinstance(obj.get(args.answer_field), str):
                            fail(f"{path}:{no}: no string field '{args.answer_field}'")
                        ans = obj[args.answer_field]
                    yield obj[field], ans
            else:
                if args.answer_field is not None:
                    fail(f"{path}: --answer-field needs JSONL input")
                text = f.read()
                if args.split_on is None:
                    if text.strip():
                        yield text, None
                    return
                doc = []
                for line in text.split("\n"):
                    if line.rstrip("\r") == args.split_on:
                        if "".join(doc).strip():
                            yield "\n".join(doc).strip("\n") + "\n", None
                        doc = []
                    else:
                        doc.append(line)
                if "".join(doc).strip():
                    yield "\n".join(doc).strip("\n") + "\n", None
    except UnicodeDecodeError as e:
        fail(f"{path}: not UTF-8 text: {e}")
    except OSError as e:
        fail(f"{path}: cannot read: {e.strerror}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokenizer", required=True, help="a Hugging Face tokenizer.json")
    ap.add_argument("-o", "--out", required=True, help="output prefix: PREFIX_000000.bin, ...")
    ap.add_argument("--text-field", help="JSONL: the field holding a document's text (default text)")
    ap.add_argument("--answer-field", help="JSONL: a field appended as ' ' + answer and marked in .mask")
    ap.add_argument("--split-on", help="plain text: a line that separates documents (e.g. %%)")
    ap.add_argument("--shard-tokens", type=float, default=1e8, help="tokens per shard at most")
    ap.add_argument("--eot-token", default="<|endoftext|>", help="the end-of-text token")
    ap.add_argument("inputs", nargs="+")
    args = ap.parse_args()
    shard_tokens = int(args.shard_tokens)
    if shard_tokens < 1:
        fail("--shard-tokens must be at least 1")
    try:
        from tokenizers import Tokenizer
    except ImportError:
        fail("the Hugging Face `tokenizers` package is needed (pip install tokenizers)")
    try:
        tok = Tokenizer.from_file(args.tokenizer)
    except Exception as e:  # the library raises a plain Exception
        fail(f"{args.tokenizer}: not a tokenizer.json: {e}")
    eot = tok.token_to_id(args.eot_token)
    if eot is None:
        fail(f"{args.tokenizer}: the end-of-text token {args.eot_token!r} is not in the vocabulary")
    vocab = tok.get_vocab_size(with_added_tokens=True)
    for p in args.inputs:
        if not os.path.isfile(p):
            fail(f"{p}: no such file")

    # Read and encode everything first: bad input writes nothing.
    ids, mask, per_file = [], [], []
    for p in args.inputs:
        n_docs, n_tok = 0, 0
        for text, ans in documents(p, args):
            t = tok.encode(text, add_special_tokens=False).ids
            a = tok.encode(" " + ans, add_special_tokens=False).ids if ans is not None else []
            ids += t + a + [eot]
            mask += [0] * len(t) + [1] * len(a) + [0]
            n_docs += 1
            n_tok += len(t) + len(a) + 1
        per_file.append((p, n_docs, n_tok))
    if not ids:
        fail("the inputs hold no document")
    wide = max(vocab, max(ids) + 1) > 65536
    magic, version, fmt = (MAGIC_U32, VERSION_U32, "I") if wide else (MAGIC_U16, VERSION_U16, "H")
    written = []
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    for i, lo in enumerate(range(0, len(ids), shard_tokens)):
        chunk = ids[lo:lo + shard_tokens]
        path = f"{args.out}_{i:06d}.bin"
        with open(path, "wb") as f:
            f.write(header(magic, version, len(chunk)))
            f.write(struct.pack(f"<{len(chunk)}{fmt}", *chunk))
        written.append(path)
        if args.answer_field is not None:
            mpath = f"{args.out}_{i:06d}.mask"
            with open(mpath, "wb") as f:
                f.write(header(MAGIC_MASK, VERSION_MASK, len(chunk)))
                f.write(bytes(mask[lo:lo + shard_tokens]))
            written.append(mpath)
    for p, nd, nt in per_file:
        print(f"{p}: {nd} documents, {nt} tokens")
    print(f"total: {len(ids)} tokens ({sum(mask)} answer tokens) in {len(ids) and (len(ids) - 1) // shard_tokens + 1} "
          f"shard(s) of uint{32 if wide else 16}, vocabulary {vocab}, eot id {eot}")
    for w in written:
        print(f"wrote {w}")


if __name__ == "__main__":
    main()
