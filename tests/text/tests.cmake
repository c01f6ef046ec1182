# text: token corpora (src/corpus.c, the corpus task, tools/tokenize_corpus.py).
add_executable(test_corpus ${CMAKE_CURRENT_LIST_DIR}/test_corpus.c)
target_link_libraries(test_corpus PRIVATE dscore)
add_test(NAME text.corpus_unit COMMAND test_corpus)
set_tests_properties(text.corpus_unit PROPERTIES LABELS unit TIMEOUT 120)
