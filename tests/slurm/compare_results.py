#!/usr/bin/env python3
"""Compares two distsweep result files of the same sweep, made under different schedules
(uninterrupted vs interrupted, requeued and resumed): every dataset bit-identical except where
and how long a run trained (runs/rank, runs/wall_s), every run done, and the journal of the
second file holding every (scale, seed) exactly once: nothing lost, nothing run twice.

usage: compare_results.py REFERENCE.h5 CANDIDATE.h5   (exit 0 same, 1 different)
       compare_results.py CANDIDATE.h5                (completeness and journal only)
"""
import struct, sys
import h5py, numpy as np

ref_path, got_path = (sys.argv[1], sys.argv[2]) if len(sys.argv) > 2 else (None, sys.argv[1])
bad = []
with h5py.File(ref_path or got_path, "r") as ref, h5py.File(got_path, "r") as got:
    names = []
    if ref_path is not None:
        ref.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    # Where and when a run was trained differ between schedules; nothing else may.
    skip = {"runs/rank", "runs/wall_s"}
    for n in names:
        if n in skip:
            continue
        if n not in got:
            bad.append(f"{n}: missing")
            continue
        x, y = ref[n][()], got[n][()]
        # Bitwise (NaN == NaN where the same bits): the CPU backend is deterministic.
        if x.shape != y.shape or x.dtype != y.dtype or x.tobytes() != y.tobytes():
            bad.append(f"{n}: differs")
    status = got["runs/status"][()]
    n_runs = status.size
    # 1 done, 3 diverged: finished; 0 pending and 2 failed must not remain.
    if not np.all(np.isin(status, [1, 3])):
        bad.append(f"runs/status: not all finished: {status.tolist()}")
    seeds = got["seeds"][()]

# Journal (src/journal.h): a 64-byte header (version 2; 56 bytes in version 1), then records
# magic u32 | n u32 | payload | u64;
# payload starts with int32 scale, status, attempts, rank, n_len, n_curve | int64 seed.
data = open(got_path + ".journal", "rb").read()
off, keys = (64 if data[:8] == b"DSJRNL02" else 56), []
while off + 8 <= len(data):
    magic, n = struct.unpack_from("<II", data, off)
    if magic != 0x4A52534A:
        bad.append(f"journal: bad magic at byte {off}")
        break
    scale = struct.unpack_from("<i", data, off + 8)[0]
    seed = struct.unpack_from("<q", data, off + 8 + 24)[0]
    keys.append((scale, seed))
    off += 8 + n + 8
dups = sorted({k for k in keys if keys.count(k) > 1})
if dups:
    bad.append(f"journal: runs stored more than once: {dups}")
if len(set(keys)) != n_runs:
    bad.append(f"journal: {len(set(keys))} distinct runs, expected {n_runs}")
for b in bad:
    print("compare:", b)
print(f"compare: {len(names)} datasets, {n_runs} runs ({len(seeds)} seeds), "
      f"{len(keys)} journal records: {'OK' if not bad else 'FAILED'}")
sys.exit(1 if bad else 0)
