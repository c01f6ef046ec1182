# hf: model.init, a population started from a Hugging Face GPT-NeoX, Llama or
# Qwen2 directory
# (src/hfmodel.c). hf.unit: F16/BF16 conversion, the qkv de-interleave, the
# model.init keys, reinit mask and seeds. The Python scenarios
# (tests/hf/test_hf.py) make checkpoints with transformers, installed from
# PyPI into the build directory like models.hf (tests/procutil.py).
add_executable(test_hf_unit ${CMAKE_CURRENT_LIST_DIR}/test_hf_unit.c)
target_link_libraries(test_hf_unit PRIVATE dscore)
add_test(NAME hf.unit COMMAND test_hf_unit)
set_tests_properties(hf.unit PROPERTIES LABELS unit TIMEOUT 60)

add_executable(hf_tool ${CMAKE_CURRENT_LIST_DIR}/hf_tool.c)
target_link_libraries(hf_tool PRIVATE dscore)
set(DS_HFTEST ${DS_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_hf.py
  --bin $<TARGET_FILE:distsweep> --tool $<TARGET_FILE:hf_tool>
  --src ${CMAKE_SOURCE_DIR} --pydeps ${CMAKE_BINARY_DIR}/pydeps --logits $<TARGET_FILE:model_logits>
  --mpiexec ${MPIEXEC_EXECUTABLE})
foreach(sc import reinit continue errors llama sizes)
  add_test(NAME hf.${sc} COMMAND ${DS_HFTEST} ${sc})
  set_tests_properties(hf.${sc} PROPERTIES LABELS "hf;integration" TIMEOUT 600
    ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;${DS_TEST_OMP_ENV}")
endforeach()
