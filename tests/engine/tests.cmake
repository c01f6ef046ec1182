# engine: the CPU model, optimizer, evaluation, checkpoints and training loop.
set(DS_ENGINE_TESTS ${CMAKE_CURRENT_LIST_DIR})

add_executable(test_engine_grad ${DS_ENGINE_TESTS}/test_grad.c)
target_link_libraries(test_engine_grad PRIVATE dscore)
add_test(NAME engine.grad_vs_double_reference COMMAND test_engine_grad)
set_tests_properties(engine.grad_vs_double_reference PROPERTIES LABELS unit TIMEOUT 120
  ENVIRONMENT "OMP_NUM_THREADS=2")
