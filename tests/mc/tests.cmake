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
