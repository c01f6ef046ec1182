# GPU tests: built wherever CUDA is (nvcc is on every build machine), run
# everywhere, and report "skipped" (exit 77) where no GPU is visible.
# tools/gpu_check.sh runs them in the order registered here.
if(DISTSWEEP_HAVE_CUDA)
  # ds_gpu_exe(EXE): tests/gpu/EXE.c linked against dscore
  function(ds_gpu_exe exe)
    add_executable(${exe} ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/${exe}.c)
    target_link_libraries(${exe} PRIVATE dscore)
  endfunction()

  # ds_gpu_test(NAME EXE [ARGS a...] [TIMEOUT s] [ENV VAR=v...]): one test,
  # labelled gpu, skipped (exit 77) without a GPU
  function(ds_gpu_test name exe)
    cmake_parse_arguments(G "" "TIMEOUT" "ARGS;ENV" ${ARGN})
    add_test(NAME ${name} COMMAND ${exe} ${G_ARGS})
    set_tests_properties(${name} PROPERTIES LABELS gpu SKIP_RETURN_CODE 77)
    if(G_TIMEOUT)
      set_tests_properties(${name} PROPERTIES TIMEOUT ${G_TIMEOUT})
    endif()
    if(G_ENV) # a list: one quoted value, not expanded into arguments
      set_tests_properties(${name} PROPERTIES ENVIRONMENT "${G_ENV}")
    endif()
  endfunction()

  # ds_gpu_test_precisions(NAME EXE TIMEOUT s): NAME_tf32 and NAME_bf16, the
  # test at that precision on both backends (EXE's argument). The variable
  # lets these checks run the CUDA precisions that src/backend.c refuses to
  # sweeps until they pass on a GPU (docs/cuda.md, docs/engine.md "Precision").
  function(ds_gpu_test_precisions name exe timeout)
    foreach(prec tf32 bf16)
      ds_gpu_test(${name}_${prec} ${exe} ARGS ${prec} TIMEOUT ${timeout}
        ENV DISTSWEEP_CUDA_UNVERIFIED_PRECISION=1)
    endforeach()
  endfunction()

  ds_gpu_exe(test_cuda_rng)
  ds_gpu_test(gpu.philox_matches_cpu test_cuda_rng)

  # large vocabularies (50,304 and 151,936) against the CPU, and a pack whose
  # logits pass 2^31 elements on the GPU alone ("big": about 31 GB of device
  # memory, skipped where it does not fit). Early in the list: these have
  # never run on a GPU.
  ds_gpu_exe(test_cuda_bigvocab)
  ds_gpu_test(gpu.bigvocab_vs_cpu test_cuda_bigvocab TIMEOUT 300)
  ds_gpu_test(gpu.bigvocab_over_2g31 test_cuda_bigvocab ARGS big TIMEOUT 300)
  ds_gpu_test_precisions(gpu.bigvocab_vs_cpu test_cuda_bigvocab 300)

  # every op of the CUDA backend against the CPU backend, and at tf32 and bf16
  ds_gpu_exe(test_cuda_ops)
  ds_gpu_test(gpu.ops_vs_cpu test_cuda_ops TIMEOUT 120)
  ds_gpu_test_precisions(gpu.ops_vs_cpu test_cuda_ops 120)

  # attention's other implementation at each precision: the tensor-core GEMMs
  # (attention_gemm.cuh, the default at tf32/bf16) at fp32, and the CUDA-core
  # kernels (the default at fp32) at tf32/bf16 (docs/cuda.md "Attention")
  ds_gpu_test(gpu.ops_vs_cpu_attention_gemm test_cuda_ops TIMEOUT 120 ENV DISTSWEEP_CUDA_ATTENTION=gemm)
  foreach(prec tf32 bf16)
    ds_gpu_test(gpu.ops_vs_cpu_${prec}_attention_tiled test_cuda_ops ARGS ${prec} TIMEOUT 120
      ENV DISTSWEEP_CUDA_UNVERIFIED_PRECISION=1 DISTSWEEP_CUDA_ATTENTION=tiled)
  endforeach()

  # whole model vs CPU, training vs CPU, run-to-run and pack-vs-alone bit identity
  ds_gpu_exe(test_cuda_model)
  ds_gpu_test(gpu.model_and_training test_cuda_model TIMEOUT 300)
  ds_gpu_test_precisions(gpu.model_and_training test_cuda_model 300)

  # the llama block (kernels/rmsnorm.cuh, swiglu.cuh, kv_repeat.cuh and the
  # model's llama path) against the CPU, and its bit identities; the test sets
  # DISTSWEEP_CUDA_UNVERIFIED_BLOCK=1 itself (src/backend.c refuses the block on
  # cuda until this has passed on a GPU)
  ds_gpu_exe(test_cuda_llama)
  ds_gpu_test(gpu.llama_block test_cuda_llama TIMEOUT 300)
  ds_gpu_test_precisions(gpu.llama_block test_cuda_llama 300)

  # the memory model (src/devmem.h: long contexts, many shapes, sized up front)
  # and exact causality with non-finite future values, both attention paths
  ds_gpu_exe(test_cuda_memory)
  foreach(att gemm tiled)
    ds_gpu_test(gpu.memory_long_context_${att} test_cuda_memory TIMEOUT 300
      ENV DISTSWEEP_CUDA_ATTENTION=${att})
  endforeach()
  ds_gpu_test_precisions(gpu.memory_long_context test_cuda_memory 300)

  # a one-rank NCCL group (or MPI without NCCL) against the plain path (src/groupcomm.h)
  ds_gpu_exe(test_nccl_group)
  ds_gpu_test(gpu.nccl_group_of_one test_nccl_group TIMEOUT 120
    ENV OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1)
endif()
