# sweep: the sweep-file loader (src/sweep.c) and `distsweep plan` (src/cmd_plan.c).
add_executable(test_sweep ${CMAKE_CURRENT_LIST_DIR}/test_sweep.c)
target_link_libraries(test_sweep PRIVATE dscore)
add_test(NAME sweep.unit COMMAND test_sweep ${CMAKE_SOURCE_DIR}/sweeps)
set_tests_properties(sweep.unit PROPERTIES LABELS unit TIMEOUT 60)

# The real binary on every malformed file of tests/sweep/bad/: exit 2, the
# exact FILE:LINE:COL message of the file's '# expect:' line, nothing written.
add_test(NAME sweep.bad_files
  COMMAND ${DS_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_plan_cli.py bad
          $<TARGET_FILE:distsweep> ${CMAKE_CURRENT_LIST_DIR}/bad)
set_tests_properties(sweep.bad_files PROPERTIES LABELS "integration" TIMEOUT 120)

# `distsweep plan` on the shipped sweeps: table, JSON keys and numbers, options.
add_test(NAME sweep.plan_cli
  COMMAND ${DS_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_plan_cli.py good
          $<TARGET_FILE:distsweep> ${CMAKE_SOURCE_DIR}/sweeps)
set_tests_properties(sweep.plan_cli PROPERTIES LABELS "integration" TIMEOUT 120)
