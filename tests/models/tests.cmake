# models: stored models (run.save_models), `distsweep export` to Hugging Face and
# `distsweep eval`, with real training, HDF5 files and SIGKILLs
# (tests/models/test_models.py; one ctest per scenario). models.hf installs
# transformers from PyPI into the build directory (cached across runs).
add_executable(model_logits ${CMAKE_CURRENT_LIST_DIR}/model_logits.c)
target_link_libraries(model_logits PRIVATE dscore)
set(DS_MODELTEST ${DS_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_models.py
  --bin $<TARGET_FILE:distsweep> --logits $<TARGET_FILE:model_logits>
  --mpiexec ${MPIEXEC_EXECUTABLE} --src ${CMAKE_SOURCE_DIR} --pydeps ${CMAKE_BINARY_DIR}/pydeps)
foreach(sc hf eval kill errors)
  add_test(NAME models.${sc} COMMAND ${DS_MODELTEST} ${sc})
  set_tests_properties(models.${sc} PROPERTIES LABELS "models;integration" TIMEOUT 600
    ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")
endforeach()
set_tests_properties(models.kill PROPERTIES RUN_SERIAL TRUE)
