# sched: the scheduler's pack planning (src/packplan.c) without mpirun or HDF5:
# automatic pack sizes, the hand-out order, pack file names, manifests rebuilt
# whatever the rank count, stale and garbled manifests rejected, no run in two
# packs. The MPI protocol itself is tested end to end by tests/mpi/.
add_executable(test_packplan ${CMAKE_CURRENT_LIST_DIR}/test_packplan.c)
target_include_directories(test_packplan PRIVATE ${CMAKE_SOURCE_DIR}/tests)
target_link_libraries(test_packplan PRIVATE dscore)
add_test(NAME sched.packplan COMMAND test_packplan)
set_tests_properties(sched.packplan PROPERTIES LABELS unit TIMEOUT 60)

# The adaptive round rule (src/adaptive.c): rounds, blocking, purity, keys.
add_executable(test_adaptive ${CMAKE_CURRENT_LIST_DIR}/test_adaptive.c)
target_include_directories(test_adaptive PRIVATE ${CMAKE_SOURCE_DIR}/tests)
target_link_libraries(test_adaptive PRIVATE dscore)
add_test(NAME sched.adaptive COMMAND test_adaptive)
set_tests_properties(sched.adaptive PROPERTIES LABELS unit TIMEOUT 60)

# The MPI messages' codecs (src/messages.c), without MPI: round trips, and
# truncated, over-long, wrong-version, wrong-kind and out-of-range messages
# refused with a message naming the message.
add_executable(test_messages ${CMAKE_CURRENT_LIST_DIR}/test_messages.c)
target_include_directories(test_messages PRIVATE ${CMAKE_SOURCE_DIR}/tests)
target_link_libraries(test_messages PRIVATE dscore)
add_test(NAME sched.messages COMMAND test_messages)
set_tests_properties(sched.messages PROPERTIES LABELS unit TIMEOUT 60)
