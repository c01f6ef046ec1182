# precision: the operand rounding rules of train.precision (src/precision.h).
add_executable(test_precision ${CMAKE_CURRENT_LIST_DIR}/test_precision.c)
target_include_directories(test_precision PRIVATE ${CMAKE_SOURCE_DIR}/tests)
target_link_libraries(test_precision PRIVATE dscore)
add_test(NAME precision.rounding COMMAND test_precision)
set_tests_properties(precision.rounding PROPERTIES LABELS unit)

# every product op of the CPU backend at tf32 and bf16 against a double
# product of the rounded inputs, with the bounds stated in the file
add_executable(test_precision_ops ${CMAKE_CURRENT_LIST_DIR}/test_precision_ops.c)
target_include_directories(test_precision_ops PRIVATE ${CMAKE_SOURCE_DIR}/tests)
target_link_libraries(test_precision_ops PRIVATE dscore m)
add_test(NAME precision.cpu_products COMMAND test_precision_ops)
set_tests_properties(precision.cpu_products PROPERTIES LABELS unit TIMEOUT 120)
