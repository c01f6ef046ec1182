# mc: multiple-choice evaluation sets (src/mcfile.h), their scoring (src/mceval.h),
# tools/make_mc_eval.py and `distsweep eval --mc`.
add_executable(test_mc ${CMAKE_CURRENT_LIST_DIR}/test_mc.c)
target_link_libraries(test_mc PRIVATE dscore)
add_test(NAME mc.unit COMMAND test_mc)
set_tests_properties(mc.unit PROPERTIES LABELS unit TIMEOUT 120 ENVIRONMENT "${DS_TEST_OMP_ENV}")
