# tasks: the count and addition tasks (src/tasks.c, task_*.c) and distsweep sample.
add_executable(test_tasks ${CMAKE_CURRENT_LIST_DIR}/test_tasks.c)
target_link_libraries(test_tasks PRIVATE dscore)
add_test(NAME tasks.unit COMMAND test_tasks)
set_tests_properties(tasks.unit PROPERTIES LABELS unit)

# distsweep sample end to end, checked against an independent Python model of
# the data streams (Philox + the documented draw order).
add_test(NAME tasks.sample_cli
  COMMAND ${DS_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_sample_cli.py $<TARGET_FILE:distsweep> ${CMAKE_SOURCE_DIR})
set_tests_properties(tasks.sample_cli PROPERTIES LABELS integration TIMEOUT 120)
