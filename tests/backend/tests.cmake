# backend: the backend module (src/backend.c): kind names and their parser,
# the meaning of auto, the factory, the op list and the per-op timers.
add_executable(test_backend ${CMAKE_CURRENT_LIST_DIR}/test_backend.c)
target_link_libraries(test_backend PRIVATE dscore)
add_test(NAME backend.kinds_auto_factory COMMAND test_backend)
set_tests_properties(backend.kinds_auto_factory PROPERTIES LABELS unit TIMEOUT 60
  ENVIRONMENT "${DS_TEST_OMP_ENV}")

# the CUDA backend's memory sizing (src/devmem.h), pure host arithmetic
add_executable(test_devmem ${CMAKE_CURRENT_LIST_DIR}/test_devmem.c)
target_link_libraries(test_devmem PRIVATE dscore)
add_test(NAME backend.devmem_sizing COMMAND test_devmem)
set_tests_properties(backend.devmem_sizing PROPERTIES LABELS unit TIMEOUT 60)
