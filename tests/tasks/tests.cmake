add_executable(test_tasks ${CMAKE_CURRENT_LIST_DIR}/test_tasks.c)
target_link_libraries(test_tasks PRIVATE dscore)
add_test(NAME tasks.unit COMMAND test_tasks)
set_tests_properties(tasks.unit PROPERTIES LABELS unit)
