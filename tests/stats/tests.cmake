# stats: the distribution statistics of src/stats (docs/spec-tasks.md §7).
add_executable(test_stats ${CMAKE_CURRENT_LIST_DIR}/test_stats.c)
target_link_libraries(test_stats PRIVATE dscore)
add_test(NAME stats.unit COMMAND test_stats)
set_tests_properties(stats.unit PROPERTIES LABELS unit TIMEOUT 60)

# A stdin/JSON driver so that Python can check every statistic against NumPy/SciPy.
add_executable(stats_driver ${CMAKE_CURRENT_LIST_DIR}/stats_driver.c)
target_link_libraries(stats_driver PRIVATE dscore)
add_test(NAME stats.vs_scipy
  COMMAND ${DS_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_stats_ref.py $<TARGET_FILE:stats_driver>)
set_tests_properties(stats.vs_scipy PROPERTIES LABELS python TIMEOUT 120)
