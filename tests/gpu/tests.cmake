# GPU tests: built wherever CUDA is (nvcc is on every build machine), run
# everywhere, and report "skipped" (exit 77) where no GPU is visible.
if(DISTSWEEP_HAVE_CUDA)
  add_executable(test_cuda_rng ${CMAKE_CURRENT_LIST_DIR}/test_cuda_rng.c)
  target_link_libraries(test_cuda_rng PRIVATE dscore)
  add_test(NAME gpu.philox_matches_cpu COMMAND test_cuda_rng)
  set_tests_properties(gpu.philox_matches_cpu PROPERTIES LABELS gpu SKIP_RETURN_CODE 77)
endif()
