# GPU tests: built wherever CUDA is (nvcc is on every build machine), run
# everywhere, and report "skipped" (exit 77) where no GPU is visible.
if(DISTSWEEP_HAVE_CUDA)
  add_executable(test_cuda_rng ${CMAKE_CURRENT_LIST_DIR}/test_cuda_rng.c)
  target_link_libraries(test_cuda_rng PRIVATE dscore)
  add_test(NAME gpu.philox_matches_cpu COMMAND test_cuda_rng)
  set_tests_properties(gpu.philox_matches_cpu PROPERTIES LABELS gpu SKIP_RETURN_CODE 77)

  # large vocabularies (50,304 and 151,936) against the CPU, and a pack whose
  # logits pass 2^31 elements on the GPU alone ("big": about 31 GB of device
  # memory, skipped where it does not fit). Early in the list: tools/gpu_check.sh
  # runs the tests in this order, and these have never run on a GPU.
  add_executable(test_cuda_bigvocab ${CMAKE_CURRENT_LIST_DIR}/test_cuda_bigvocab.c)
  target_link_libraries(test_cuda_bigvocab PRIVATE dscore)
  add_test(NAME gpu.bigvocab_vs_cpu COMMAND test_cuda_bigvocab)
  set_tests_properties(gpu.bigvocab_vs_cpu PROPERTIES LABELS gpu SKIP_RETURN_CODE 77 TIMEOUT 300)
  add_test(NAME gpu.bigvocab_over_2g31 COMMAND test_cuda_bigvocab big)
  set_tests_properties(gpu.bigvocab_over_2g31 PROPERTIES LABELS gpu SKIP_RETURN_CODE 77 TIMEOUT 300)
  foreach(prec tf32 bf16)
    add_test(NAME gpu.bigvocab_vs_cpu_${prec} COMMAND test_cuda_bigvocab ${prec})
    set_tests_properties(gpu.bigvocab_vs_cpu_${prec} PROPERTIES LABELS gpu SKIP_RETURN_CODE 77
      TIMEOUT 300 ENVIRONMENT "DISTSWEEP_CUDA_UNVERIFIED_PRECISION=1")
  endforeach()

  # every op of the CUDA backend against the CPU backend
  add_executable(test_cuda_ops ${CMAKE_CURRENT_LIST_DIR}/test_cuda_ops.c)
  target_link_libraries(test_cuda_ops PRIVATE dscore)
  add_test(NAME gpu.ops_vs_cpu COMMAND test_cuda_ops)
  set_tests_properties(gpu.ops_vs_cpu PROPERTIES LABELS gpu SKIP_RETURN_CODE 77 TIMEOUT 120)
  # ... and at tf32 and bf16 on both backends (docs/engine.md "Precision"). The
  # variable lets these checks run the CUDA precisions that src/backend.c
  # refuses to sweeps until they pass on a GPU (docs/cuda.md).
  foreach(prec tf32 bf16)
    add_test(NAME gpu.ops_vs_cpu_${prec} COMMAND test_cuda_ops ${prec})
    set_tests_properties(gpu.ops_vs_cpu_${prec} PROPERTIES LABELS gpu SKIP_RETURN_CODE 77 TIMEOUT 120
      ENVIRONMENT "DISTSWEEP_CUDA_UNVERIFIED_PRECISION=1")
  endforeach()

  # attention's other implementation at each precision: the tensor-core GEMMs
  # (attention_gemm.cuh, the default at tf32/bf16) at fp32, and the CUDA-core
  # kernels (the default at fp32) at tf32/bf16 (docs/cuda.md "Attention")
  add_test(NAME gpu.ops_vs_cpu_attention_gemm COMMAND test_cuda_ops)
  set_tests_properties(gpu.ops_vs_cpu_attention_gemm PROPERTIES LABELS gpu SKIP_RETURN_CODE 77
    TIMEOUT 120 ENVIRONMENT "DISTSWEEP_CUDA_ATTENTION=gemm")
  foreach(prec tf32 bf16)
    add_test(NAME gpu.ops_vs_cpu_${prec}_attention_tiled COMMAND test_cuda_ops ${prec})
    set_tests_properties(gpu.ops_vs_cpu_${prec}_attention_tiled PROPERTIES LABELS gpu
      SKIP_RETURN_CODE 77 TIMEOUT 120
      ENVIRONMENT "DISTSWEEP_CUDA_UNVERIFIED_PRECISION=1;DISTSWEEP_CUDA_ATTENTION=tiled")
  endforeach()

  # whole model vs CPU, training vs CPU, run-to-run and pack-vs-alone bit identity
  add_executable(test_cuda_model ${CMAKE_CURRENT_LIST_DIR}/test_cuda_model.c)
  target_link_libraries(test_cuda_model PRIVATE dscore)
  add_test(NAME gpu.model_and_training COMMAND test_cuda_model)
  set_tests_properties(gpu.model_and_training PROPERTIES LABELS gpu SKIP_RETURN_CODE 77 TIMEOUT 300)
  foreach(prec tf32 bf16)
    add_test(NAME gpu.model_and_training_${prec} COMMAND test_cuda_model ${prec})
    set_tests_properties(gpu.model_and_training_${prec} PROPERTIES LABELS gpu SKIP_RETURN_CODE 77
      TIMEOUT 300 ENVIRONMENT "DISTSWEEP_CUDA_UNVERIFIED_PRECISION=1")
  endforeach()
endif()

# the llama block (kernels/rmsnorm.cuh, swiglu.cuh, kv_repeat.cuh and the
# model's llama path) against the CPU, and its bit identities; the test sets
# DISTSWEEP_CUDA_UNVERIFIED_BLOCK=1 itself (src/backend.c refuses the block on
# cuda until this has passed on a GPU)
if(DISTSWEEP_HAVE_CUDA)
  add_executable(test_cuda_llama ${CMAKE_CURRENT_LIST_DIR}/test_cuda_llama.c)
  target_link_libraries(test_cuda_llama PRIVATE dscore)
  add_test(NAME gpu.llama_block COMMAND test_cuda_llama)
  set_tests_properties(gpu.llama_block PROPERTIES LABELS gpu SKIP_RETURN_CODE 77 TIMEOUT 300)
  foreach(prec tf32 bf16)
    add_test(NAME gpu.llama_block_${prec} COMMAND test_cuda_llama ${prec})
    set_tests_properties(gpu.llama_block_${prec} PROPERTIES LABELS gpu SKIP_RETURN_CODE 77
      TIMEOUT 300 ENVIRONMENT "DISTSWEEP_CUDA_UNVERIFIED_PRECISION=1")
  endforeach()
endif()

# the memory model (src/devmem.h: long contexts, many shapes, sized up front)
# and exact causality with non-finite future values, both attention paths
if(DISTSWEEP_HAVE_CUDA)
  add_executable(test_cuda_memory ${CMAKE_CURRENT_LIST_DIR}/test_cuda_memory.c)
  target_link_libraries(test_cuda_memory PRIVATE dscore)
  foreach(att gemm tiled)
    add_test(NAME gpu.memory_long_context_${att} COMMAND test_cuda_memory)
    set_tests_properties(gpu.memory_long_context_${att} PROPERTIES LABELS gpu SKIP_RETURN_CODE 77
      TIMEOUT 300 ENVIRONMENT "DISTSWEEP_CUDA_ATTENTION=${att}")
  endforeach()
  foreach(prec tf32 bf16)
    add_test(NAME gpu.memory_long_context_${prec} COMMAND test_cuda_memory ${prec})
    set_tests_properties(gpu.memory_long_context_${prec} PROPERTIES LABELS gpu SKIP_RETURN_CODE 77
      TIMEOUT 300 ENVIRONMENT "DISTSWEEP_CUDA_UNVERIFIED_PRECISION=1")
  endforeach()
endif()

# a one-rank NCCL group (or MPI without NCCL) against the plain path (src/groupcomm.h)
if(DISTSWEEP_HAVE_CUDA)
  add_executable(test_nccl_group ${CMAKE_CURRENT_LIST_DIR}/test_nccl_group.c)
  target_link_libraries(test_nccl_group PRIVATE dscore)
  add_test(NAME gpu.nccl_group_of_one COMMAND test_nccl_group)
  set_tests_properties(gpu.nccl_group_of_one PROPERTIES LABELS gpu SKIP_RETURN_CODE 77 TIMEOUT 120
    ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")
endif()
