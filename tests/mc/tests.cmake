# mc: multiple-choice evaluation sets (src/mcfile.h), their scoring (src/mceval.h),
# tools/make_mc_eval.py and `distsweep eval --mc`.
add_executable(test_mc ${CMAKE_CURRENT_LIST_DIR}/test_mc.c)
target_link_libraries(test_mc PRIVATE dscore)
add_test(NAME mc.unit COMMAND test_mc)
set_tests_properties(mc.unit PROPERTIES LABELS unit TIMEOUT 120 ENVIRONMENT "${DS_TEST_OMP_ENV}")

# tools/make_mc_eval.py and `distsweep eval --mc` on real text (WordNet, fortunes) against
# Hugging Face transformers on the exported model (tests/mc/test_mc.py; one ctest per scenario).
# Installs transformers and tokenizers into the build directory (tests/procutil.py, cached).
foreach(sc hf errors)
  add_test(NAME mc.${sc} COMMAND ${DS_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_mc.py ${sc}
    --bin $<TARGET_FILE:distsweep> --src ${CMAKE_SOURCE_DIR} --pydeps ${CMAKE_BINARY_DIR}/pydeps)
  set_tests_properties(mc.${sc} PROPERTIES LABELS "mc;integration;python" TIMEOUT 600
    ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")
endforeach()

# tools/bench/bench_mc.sh end to end at a tiny size (figures unchecked: timings are never
# pass/fail; the test fails when a part breaks)
add_test(NAME mc.bench_smoke COMMAND ${CMAKE_SOURCE_DIR}/tools/bench/bench_mc.sh --build ${CMAKE_BINARY_DIR}
  --items 20 --context 60 --d 64 --depth 2 --vocab 1000 --batch 4)
set_tests_properties(mc.bench_smoke PROPERTIES LABELS "mc;integration" TIMEOUT 120
  PASS_REGULAR_EXPRESSION "20 items x 4 choices, [0-9]+ positions a seed scored: [0-9.]+ s, [0-9.]+ items/s"
  ENVIRONMENT "${DS_TEST_OMP_ENV}")
