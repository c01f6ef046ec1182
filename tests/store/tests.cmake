# store: the HDF5 result file and its journal (src/store.c, src/journal.c),
# including a writer killed with SIGKILL and the recovery that follows.
add_executable(test_store ${CMAKE_CURRENT_LIST_DIR}/test_store.c)
target_include_directories(test_store PRIVATE ${CMAKE_SOURCE_DIR}/tests)
target_link_libraries(test_store PRIVATE dscore)
add_test(NAME store.unit COMMAND test_store)
set_tests_properties(store.unit PROPERTIES LABELS "unit;integration" TIMEOUT 60)
# The result schema's one home (src/schema.h, printed as JSON by schema_json.c)
# against its copies: tools/distsweep_h5.py, docs/result-file.md, docs/design.md §6.
add_executable(schema_json ${CMAKE_CURRENT_LIST_DIR}/schema_json.c)
target_link_libraries(schema_json PRIVATE dscore)
add_test(NAME store.schema
  COMMAND ${DS_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_schema.py $<TARGET_FILE:schema_json>
          ${CMAKE_SOURCE_DIR})
set_tests_properties(store.schema PROPERTIES LABELS "unit;python" TIMEOUT 60)
# The output family (src/output.c): every member's and moved-aside name, and
# each decision of opening an output for a run, on real files.
add_executable(test_output ${CMAKE_CURRENT_LIST_DIR}/test_output.c)
target_include_directories(test_output PRIVATE ${CMAKE_SOURCE_DIR}/tests)
target_link_libraries(test_output PRIVATE dscore)
add_test(NAME store.output COMMAND test_output)
set_tests_properties(store.output PROPERTIES LABELS "unit;integration" TIMEOUT 60)
