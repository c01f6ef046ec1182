# store: the HDF5 result file and its journal (src/store.c, src/journal.c),
# including a writer killed with SIGKILL and the recovery that follows.
add_executable(test_store ${CMAKE_CURRENT_LIST_DIR}/test_store.c)
target_include_directories(test_store PRIVATE ${CMAKE_SOURCE_DIR}/tests)
target_link_libraries(test_store PRIVATE dscore)
add_test(NAME store.unit COMMAND test_store)
set_tests_properties(store.unit PROPERTIES LABELS "unit;integration" TIMEOUT 60)
