# torchref: the independent PyTorch reference model (tests/engine/torch_ref.py)
# and the comparison of the C engine against it (docs/correctness.md).

# The reference checks itself: autograd vs finite differences (both block
# types, rotary 0.25 and 1.0), RoPE vs complex rotation, causality, the
# hand-written AdamW vs torch.optim.AdamW, and learning a tiny count task.
add_test(NAME torchref.selftest
  COMMAND ${DS_PYTHON} ${CMAKE_SOURCE_DIR}/tests/engine/torch_ref.py)
set_tests_properties(torchref.selftest PROPERTIES LABELS python TIMEOUT 120)

# The C engine against the reference: loss, logits, every gradient tensor,
# init, the AdamW update and a 10-step trajectory, both block types and
# rotary 0.25 / 1.0 (docs/correctness.md states each tolerance and why).
add_executable(test_vs_torch ${CMAKE_SOURCE_DIR}/tests/engine/test_vs_torch.c)
target_link_libraries(test_vs_torch PRIVATE dscore)
add_test(NAME torchref.vs_torch
  COMMAND ${DS_PYTHON} ${CMAKE_SOURCE_DIR}/tests/engine/test_vs_torch.py $<TARGET_FILE:test_vs_torch>)
set_tests_properties(torchref.vs_torch PROPERTIES LABELS python TIMEOUT 180)
# the same at Pythia's vocabulary, 50,304 ids (50,300 count numbers + 4), the
# rows' ids spread over it: the embedding, head and cross-entropy at that size
add_test(NAME torchref.vs_torch_bigvocab
  COMMAND ${DS_PYTHON} ${CMAKE_SOURCE_DIR}/tests/engine/test_vs_torch.py $<TARGET_FILE:test_vs_torch> --vocab 50300)
set_tests_properties(torchref.vs_torch_bigvocab PROPERTIES LABELS python TIMEOUT 600)

# The llama block's ops (rmsnorm, swiglu, kv_repeat, grouped-query attention)
# at fp32, tf32 and bf16 against float64 PyTorch, forward and backward, with
# the tolerances stated in tests/engine/test_ops_vs_torch.py; the whole llama
# model is in torchref.vs_torch above, its reference's own checks here.
add_executable(test_ops_vs_torch ${CMAKE_SOURCE_DIR}/tests/engine/test_ops_vs_torch.c)
target_link_libraries(test_ops_vs_torch PRIVATE dscore)
add_test(NAME torchref.llama_ops
  COMMAND ${DS_PYTHON} ${CMAKE_SOURCE_DIR}/tests/engine/test_ops_vs_torch.py $<TARGET_FILE:test_ops_vs_torch>)
set_tests_properties(torchref.llama_ops PROPERTIES LABELS python TIMEOUT 120)
add_test(NAME torchref.llama_selftest
  COMMAND ${DS_PYTHON} ${CMAKE_SOURCE_DIR}/tests/engine/torch_ref_llama.py)
set_tests_properties(torchref.llama_selftest PROPERTIES LABELS python TIMEOUT 120)
