# torchref: the independent PyTorch reference model (tests/engine/torch_ref.py)
# and the comparison of the C engine against it (docs/correctness.md).

# The reference checks itself: autograd vs finite differences (both block
# types, rotary 0.25 and 1.0), RoPE vs complex rotation, causality, the
# hand-written AdamW vs torch.optim.AdamW, and learning a tiny count task.
add_test(NAME torchref.selftest
  COMMAND ${DS_PYTHON} ${CMAKE_SOURCE_DIR}/tests/engine/torch_ref.py)
set_tests_properties(torchref.selftest PROPERTIES LABELS python TIMEOUT 120)
