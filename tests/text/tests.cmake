# text: token corpora (src/corpus.c, the corpus task, tools/tokenize_corpus.py).
add_executable(test_corpus ${CMAKE_CURRENT_LIST_DIR}/test_corpus.c)
target_link_libraries(test_corpus PRIVATE dscore)
add_test(NAME text.corpus_unit COMMAND test_corpus)
set_tests_properties(text.corpus_unit PROPERTIES LABELS unit TIMEOUT 120)

# Training on real text end to end (tests/text/test_corpus.py; one ctest per
# scenario): Debian's fortunes, a BPE tokenizer trained in the test with
# Hugging Face tokenizers (installed test-locally into the build directory,
# tests/procutil.py install_hf_deps), shards by tools/tokenize_corpus.py.
set(DS_TEXTTEST ${DS_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_corpus.py
  --bin $<TARGET_FILE:distsweep> --mpiexec ${MPIEXEC_EXECUTABLE} --src ${CMAKE_SOURCE_DIR}
  --pydeps ${CMAKE_BINARY_DIR}/pydeps)
foreach(sc tool train packs mix mc pipeline pretrained qwen epochs bigvocab errors)
  add_test(NAME text.${sc} COMMAND ${DS_TEXTTEST} ${sc})
  set_tests_properties(text.${sc} PROPERTIES LABELS "text;integration" TIMEOUT 600
    ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")
endforeach()
set_tests_properties(text.packs text.pretrained PROPERTIES RUN_SERIAL TRUE)

# tools/bench/bench_corpus.sh end to end at a tiny size (figures unchecked: timings are never
# pass/fail; tools/bench/RESULTS.md has the measured ones)
add_test(NAME text.bench_smoke COMMAND ${CMAKE_SOURCE_DIR}/tools/bench/bench_corpus.sh --build ${CMAKE_BINARY_DIR}
  --d 64 --depth 1 --pack 1 --steps 2 --rounds 1)
set_tests_properties(text.bench_smoke PROPERTIES LABELS "text;integration" TIMEOUT 120
  PASS_REGULAR_EXPRESSION "median corpus/count steps/s: [0-9.]+")
