# tools: the set-up, CI and benchmark shell scripts are shellcheck-clean
# (the Slurm scripts have their own check in tests/slurm).
file(GLOB DS_TOOL_SCRIPTS CONFIGURE_DEPENDS
  ${CMAKE_SOURCE_DIR}/tools/*.sh ${CMAKE_SOURCE_DIR}/tools/bench/*.sh ${CMAKE_SOURCE_DIR}/tests/tools/*.sh)
add_test(NAME tools.shellcheck
  COMMAND bash -c "command -v shellcheck >/dev/null || { echo 'shellcheck not installed'; exit 77; }; shellcheck \"$@\"" shellcheck ${DS_TOOL_SCRIPTS} ${CMAKE_SOURCE_DIR}/.ci/run)
set_tests_properties(tools.shellcheck PROPERTIES LABELS unit SKIP_RETURN_CODE 77 TIMEOUT 60)

# the CPU-vs-PyTorch benchmark end to end at a tiny size (figures unchecked)
add_test(NAME tools.bench_smoke
  COMMAND ${CMAKE_SOURCE_DIR}/tests/tools/bench_smoke.sh ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR})
set_tests_properties(tools.bench_smoke PROPERTIES LABELS integration SKIP_RETURN_CODE 77 TIMEOUT 300)

# the GPU check bundle and script (tools/gpu_bundle.sh, tools/gpu_check.sh)
# without a GPU: every gpu test skipped, the CPU bench's figures printed
add_test(NAME tools.gpu_check_smoke
  COMMAND ${CMAKE_SOURCE_DIR}/tests/tools/gpu_check_smoke.sh ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR})
set_tests_properties(tools.gpu_check_smoke PROPERTIES LABELS integration SKIP_RETURN_CODE 77 TIMEOUT 300
  ENVIRONMENT "${DS_TEST_OMP_ENV}")

# the GPU-vs-PyTorch benchmark's plumbing on the CPU (tools/bench/bench_gpu_vs_torch.sh --tiny)
# and bench_torch_gpu.py --check: vmap over seeds trains each seed as training it alone does
add_test(NAME tools.bench_gpu_vs_torch_smoke
  COMMAND ${CMAKE_SOURCE_DIR}/tests/tools/bench_gpu_vs_torch_smoke.sh ${CMAKE_SOURCE_DIR}
          ${CMAKE_BINARY_DIR} ${DS_PYTHON})
set_tests_properties(tools.bench_gpu_vs_torch_smoke PROPERTIES LABELS "integration;python"
  SKIP_RETURN_CODE 77 TIMEOUT 300)

# every file and docs section cited in code, docs and tests exists
# (tests/tools/doc_citations.py: a renamed file or heading fails here)
add_test(NAME tools.doc_citations
  COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/tools/doc_citations.py ${CMAKE_SOURCE_DIR})
set_tests_properties(tools.doc_citations PROPERTIES LABELS unit TIMEOUT 60)

# every sweep file the README and docs show loads in `distsweep plan`
# (tests/tools/doc_sweeps.py: fragments laid over a whole sweep; a key renamed
# or a rule changed without the docs fails here)
add_test(NAME tools.doc_sweeps
  COMMAND ${DS_PYTHON} ${CMAKE_SOURCE_DIR}/tests/tools/doc_sweeps.py ${CMAKE_SOURCE_DIR} $<TARGET_FILE:distsweep>)
set_tests_properties(tools.doc_sweeps PROPERTIES LABELS "unit;python" TIMEOUT 120)

# tools/same_results.py, the no-behaviour-change check of a refactor: one
# build run twice on the faults sweep (1 and 2 ranks) gives identical files
add_test(NAME tools.same_results
  COMMAND ${DS_PYTHON} ${CMAKE_SOURCE_DIR}/tools/same_results.py $<TARGET_FILE:distsweep>
          $<TARGET_FILE:distsweep> ${CMAKE_BINARY_DIR}/same_results --cases faults1,faults2)
set_tests_properties(tools.same_results PROPERTIES LABELS "integration;python" TIMEOUT 600
  ENVIRONMENT "${DS_TEST_OMP_ENV}")
