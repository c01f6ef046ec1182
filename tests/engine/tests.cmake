# engine: the CPU model, optimizer, evaluation, checkpoints and training loop.
set(DS_ENGINE_TESTS ${CMAKE_CURRENT_LIST_DIR})

add_executable(test_engine_grad ${DS_ENGINE_TESTS}/test_grad.c)
target_link_libraries(test_engine_grad PRIVATE dscore)
add_test(NAME engine.grad_vs_double_reference COMMAND test_engine_grad)
set_tests_properties(engine.grad_vs_double_reference PROPERTIES LABELS unit TIMEOUT 120
  ENVIRONMENT "${DS_TEST_OMP_ENV}")

add_executable(test_engine ${DS_ENGINE_TESTS}/test_engine.c)
target_link_libraries(test_engine PRIVATE dscore)
add_test(NAME engine.pack_checkpoint_metrics COMMAND test_engine)
set_tests_properties(engine.pack_checkpoint_metrics PROPERTIES LABELS unit TIMEOUT 120
  ENVIRONMENT "${DS_TEST_OMP_ENV}")

# the same pack, checkpoint and resume guarantees with bf16 products, and a
# run that differs from fp32 (src/precision.h)
add_test(NAME engine.pack_checkpoint_metrics_bf16 COMMAND test_engine bf16)
set_tests_properties(engine.pack_checkpoint_metrics_bf16 PROPERTIES LABELS unit TIMEOUT 120
  ENVIRONMENT "${DS_TEST_OMP_ENV}")

add_executable(test_engine_learn ${DS_ENGINE_TESTS}/test_learn.c)
target_link_libraries(test_engine_learn PRIVATE dscore)
add_test(NAME engine.learns_count_and_greedy_em COMMAND test_engine_learn)
set_tests_properties(engine.learns_count_and_greedy_em PROPERTIES LABELS integration TIMEOUT 400
  ENVIRONMENT "${DS_TEST_OMP_ENV}")
foreach(prec tf32 bf16)
  add_test(NAME engine.learns_count_and_greedy_em_${prec} COMMAND test_engine_learn ${prec})
  set_tests_properties(engine.learns_count_and_greedy_em_${prec} PROPERTIES LABELS integration
    TIMEOUT 400 ENVIRONMENT "${DS_TEST_OMP_ENV}")
endforeach()

# the llama block learns the same task to the same bounds (docs/engine.md "The llama block")
add_test(NAME engine.learns_count_llama COMMAND test_engine_learn fp32 llama)
set_tests_properties(engine.learns_count_llama PROPERTIES LABELS integration TIMEOUT 400
  ENVIRONMENT "${DS_TEST_OMP_ENV}")

add_test(NAME engine.cli_train_bench
  COMMAND ${DS_PYTHON} ${DS_ENGINE_TESTS}/test_cli.py $<TARGET_FILE:distsweep> ${CMAKE_SOURCE_DIR}/sweeps)
set_tests_properties(engine.cli_train_bench PROPERTIES LABELS integration TIMEOUT 400
  ENVIRONMENT "${DS_TEST_OMP_ENV}")

# out of memory (docs/engine.md "Out of memory"): every allocation point of a
# pack fails in turn on a counting backend (reported, nothing left allocated);
# then real packs under a real `ulimit -v` through train and bench
add_executable(test_engine_oom_paths ${DS_ENGINE_TESTS}/test_oom_paths.c)
target_link_libraries(test_engine_oom_paths PRIVATE dscore)
add_test(NAME engine.out_of_memory_paths COMMAND test_engine_oom_paths)
set_tests_properties(engine.out_of_memory_paths PROPERTIES LABELS unit TIMEOUT 120
  ENVIRONMENT "${DS_TEST_OMP_ENV}")
add_test(NAME engine.out_of_memory
  COMMAND ${DS_PYTHON} ${DS_ENGINE_TESTS}/test_oom.py $<TARGET_FILE:distsweep> ${CMAKE_SOURCE_DIR}/sweeps)
set_tests_properties(engine.out_of_memory PROPERTIES LABELS integration TIMEOUT 400)

# train.eval_every (tests/engine/test_eval_every.py): real sweeps of the CPU
# engine: the other datasets unchanged by the option, the last point equal to
# the final metrics, trajectories independent of packing and bit-identical
# after a SIGKILL and resume
add_test(NAME engine.eval_every
  COMMAND ${DS_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_eval_every.py --bin $<TARGET_FILE:distsweep>
          --src ${CMAKE_SOURCE_DIR})
set_tests_properties(engine.eval_every PROPERTIES LABELS integration TIMEOUT 600
  ENVIRONMENT "${DS_TEST_OMP_ENV}")
