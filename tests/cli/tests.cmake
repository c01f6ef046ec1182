# cli: the option-value parsers every subcommand shares (src/cli.h).
add_executable(test_cli_parse ${CMAKE_CURRENT_LIST_DIR}/test_cli_parse.c)
target_link_libraries(test_cli_parse PRIVATE dscore)
add_test(NAME cli.parse COMMAND test_cli_parse)
set_tests_properties(cli.parse PROPERTIES LABELS unit TIMEOUT 60)
