# precision: the operand rounding rules of train.precision (src/precision.h).
add_executable(test_precision ${CMAKE_CURRENT_LIST_DIR}/test_precision.c)
target_include_directories(test_precision PRIVATE ${CMAKE_SOURCE_DIR}/tests)
target_link_libraries(test_precision PRIVATE dscore)
add_test(NAME precision.rounding COMMAND test_precision)
set_tests_properties(precision.rounding PROPERTIES LABELS unit)
