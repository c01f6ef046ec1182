# analysis: `distsweep report`, tools/plot_sweep.py and tools/distsweep_h5.py on
# synthetic result files with known distributions (tools/make_synthetic_results.py).
add_test(NAME analysis.report
  COMMAND ${DS_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_report.py $<TARGET_FILE:distsweep>
          ${CMAKE_SOURCE_DIR}/tools)
set_tests_properties(analysis.report PROPERTIES LABELS "integration;python" TIMEOUT 120)
add_test(NAME analysis.plots
  COMMAND ${DS_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_plots.py ${CMAKE_SOURCE_DIR}/tools)
set_tests_properties(analysis.plots PROPERTIES LABELS python TIMEOUT 400)
add_executable(results_probe ${CMAKE_CURRENT_LIST_DIR}/results_probe.c)
target_link_libraries(results_probe PRIVATE dscore)
add_test(NAME analysis.results_refresh
  COMMAND ${DS_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_results.py $<TARGET_FILE:results_probe>
          ${CMAKE_SOURCE_DIR}/tools)
set_tests_properties(analysis.results_refresh PROPERTIES LABELS "integration;python" TIMEOUT 60)
# End to end on a file written by the real store (distsweep run with the synthetic job kind).
add_test(NAME analysis.e2e_store
  COMMAND ${DS_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_e2e.py $<TARGET_FILE:distsweep> ${CMAKE_SOURCE_DIR})
set_tests_properties(analysis.e2e_store PROPERTIES LABELS "integration;python" TIMEOUT 120)
# tools/compare_results.py: two files of one grid (e.g. fp32 and bf16) compared scale by scale.
add_test(NAME analysis.compare
  COMMAND ${DS_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_compare.py ${CMAKE_SOURCE_DIR}/tools)
set_tests_properties(analysis.compare PROPERTIES LABELS python TIMEOUT 120)
# `distsweep compare`: synthetic populations with a known difference against NumPy/SciPy
# and the truth (CI coverage, null p-values), refusals, and a real 1-rank sweep.
add_test(NAME analysis.compare_cli
  COMMAND ${DS_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_compare_cli.py $<TARGET_FILE:distsweep>
          ${CMAKE_SOURCE_DIR}/tools ${CMAKE_SOURCE_DIR})
set_tests_properties(analysis.compare_cli PROPERTIES LABELS "integration;python" TIMEOUT 180)
# `report --dynamics` (src/dynamics.h): planted breakthrough steps
# (make_synthetic_results.py --trajectories) and a real CPU sweep with
# train.eval_every, against NumPy/SciPy (Kaplan-Meier, Fisher exact).
add_test(NAME analysis.dynamics
  COMMAND ${DS_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_dynamics.py $<TARGET_FILE:distsweep>
          ${CMAKE_SOURCE_DIR}/tools ${CMAKE_SOURCE_DIR})
set_tests_properties(analysis.dynamics PROPERTIES LABELS "integration;python" TIMEOUT 300)
