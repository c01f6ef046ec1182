add_executable(test_rng ${CMAKE_CURRENT_LIST_DIR}/test_rng.c)
target_link_libraries(test_rng PRIVATE dscore)
add_test(NAME rng.philox_kat COMMAND test_rng)
set_tests_properties(rng.philox_kat PROPERTIES LABELS unit)
