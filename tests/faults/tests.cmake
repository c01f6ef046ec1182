# faults: storage failures on real file systems (tests/faults/faulttest.py): a
# full tmpfs at many sizes, an ext4 file system turning read-only mid-sweep, a
# journal on a full tmpfs, a result file whose done run lost its metrics, a
# result file torn, cut short or deleted and rebuilt from its journal. Each
# checks exit 4, one clear message, no run marked failed, and a resume that is
# bit-identical to an uninterrupted sweep. Mounting needs root: without it
# the scenario says "skipped" and why (exit 77).
set(DS_FAULTTEST ${DS_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/faulttest.py
  --bin $<TARGET_FILE:distsweep> --mpiexec ${MPIEXEC_EXECUTABLE} --src ${CMAKE_SOURCE_DIR})
foreach(sc disk_full readonly journal repair rebuild)
  add_test(NAME faults.${sc} COMMAND ${DS_FAULTTEST} ${sc})
  set_tests_properties(faults.${sc} PROPERTIES LABELS "faults;integration" TIMEOUT 600
    ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1" RUN_SERIAL TRUE
    SKIP_RETURN_CODE 77)
endforeach()

# faults.damage (tests/faults/damage.py): a seeded set of 36 damaged copies of
# a real sweep's result file (byte flips, in the metadata too, truncations,
# zeroed 4 KiB blocks, appended bytes), each read by status, report, eval and
# export: none may crash or take more than 20 s, every failure is one message,
# every success prints what it promises. Then each is resumed (`distsweep
# run`): every resume exits 0 and leaves a file h5py reads completely whose
# runs equal the undamaged sweep's, attempts included; 5 flipped values of
# /seeds, /eval_lengths, /scales and /families are rebuilt from the journal;
# and 4 damaged stored models are resumed: each is kept aside, said in one
# line, and its run trained again to the undamaged model. Needs no root.
add_test(NAME faults.damage COMMAND ${DS_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/damage.py
  --bin $<TARGET_FILE:distsweep> --src ${CMAKE_SOURCE_DIR})
set_tests_properties(faults.damage PROPERTIES LABELS "faults;integration" TIMEOUT 600
  ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")

# faults.verify (tests/faults/verify.py): `distsweep verify` on a real sweep's
# output (whole: exit 0), then a seeded set of planted damages (result-file
# metadata flips, a zeroed block, a raw flip, a truncated journal tail, a
# flipped byte in a stored model, an orphan model, a truncated checkpoint and
# a garbled manifest of a SIGKILLed sweep): each found, repaired by --repair,
# and a following run equal to the undamaged sweep; refused under a held
# lock; exit 2 on a file that is no result file. Needs no root.
add_test(NAME faults.verify COMMAND ${DS_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/verify.py
  --bin $<TARGET_FILE:distsweep> --src ${CMAKE_SOURCE_DIR})
set_tests_properties(faults.verify PROPERTIES LABELS "faults;integration" TIMEOUT 600
  ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")

# faults.ckpt_damage (tests/faults/ckpt_damage.py): a sweep with
# run.max_attempts 1 SIGKILLed while a pack's checkpoint exists, then 18
# damaged copies of that checkpoint (byte flips, truncations, a zeroed 4 KiB
# block, appended bytes, a training position outside the schedule) and 6 of
# its manifest, each resumed: exit 0, every run done with attempts 1, results
# bit-identical to an uninterrupted sweep's, the damaged file kept aside as
# NAME.damaged-<UTC time> and said in one line; and a data-parallel group's
# damaged checkpoint (3 ranks, mpirun SIGKILLed). Needs no root.
add_test(NAME faults.ckpt_damage COMMAND ${DS_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/ckpt_damage.py
  --bin $<TARGET_FILE:distsweep> --src ${CMAKE_SOURCE_DIR} --mpiexec ${MPIEXEC_EXECUTABLE})
set_tests_properties(faults.ckpt_damage PROPERTIES LABELS "faults;integration" TIMEOUT 600
  ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")
