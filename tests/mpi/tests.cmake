# mpi: `distsweep run` and `status` end to end with real mpirun, real HDF5 and
# real signals (tests/mpi/sweeptest.py; one ctest per scenario). Most use the
# synthetic job kind (src/synth.h); the engine_* ones train for real on the
# CPU backend (tests/mpi/engine.yaml).
set(DS_SWEEPTEST ${DS_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/sweeptest.py
  --bin $<TARGET_FILE:distsweep> --mpiexec ${MPIEXEC_EXECUTABLE} --src ${CMAKE_SOURCE_DIR})
set(DS_MPI_ENV "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")
foreach(sc ranks sigterm mpi_signal stop_timeout sigint_twice extend refuse failures status_live progress chaos
           adaptive adaptive_chaos
           engine_ranks engine_values engine_chaos groups_same groups_mixed groups_kill)
  add_test(NAME mpi.${sc} COMMAND ${DS_SWEEPTEST} ${sc})
  set_tests_properties(mpi.${sc} PROPERTIES LABELS "mpi;integration" TIMEOUT 400
    ENVIRONMENT "${DS_MPI_ENV}" RUN_SERIAL TRUE)
endforeach()

# groupcomm's MPI path (src/groupcomm.h): the fixed-order sum on 2, 3 and 4 ranks
add_executable(test_groupcomm ${CMAKE_CURRENT_LIST_DIR}/test_groupcomm.c)
target_include_directories(test_groupcomm PRIVATE ${CMAKE_SOURCE_DIR}/tests)
target_link_libraries(test_groupcomm PRIVATE dscore)
foreach(np 2 3 4)
  add_test(NAME mpi.groupcomm_np${np}
    COMMAND ${MPIEXEC_EXECUTABLE} -np ${np} --oversubscribe $<TARGET_FILE:test_groupcomm>)
  set_tests_properties(mpi.groupcomm_np${np} PROPERTIES LABELS "mpi;unit" TIMEOUT 300
    ENVIRONMENT "${DS_MPI_ENV}")
endforeach()
