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
# every success prints what it promises. Needs no root.
add_test(NAME faults.damage COMMAND ${DS_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/damage.py
  --bin $<TARGET_FILE:distsweep> --src ${CMAKE_SOURCE_DIR})
set_tests_properties(faults.damage PROPERTIES LABELS "faults;integration" TIMEOUT 600
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
