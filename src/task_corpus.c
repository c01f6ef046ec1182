/* task_corpus: training on token corpora (docs/tasks.md "Corpus").
 *
 * The rows come from src/corpus.h: a mixture of sources in llm.c's shard
 * format, each row `context` consecutive tokens of one source. The token ids
 * are the tokenizer's, 0..vocab-1, with no specials of distsweep's own. There
 * are no test lengths: the sweep's multiple-choice sets (eval.multiple_choice,
 * loaded here by attach) are its evaluation axis (src/evaluate.h
 * ds_evaluate_set). */
#include <stdio.h>

#include "common.h"
#include "corpus.h"
#include "mcfile.h"
#include "schema.h" /* DS_MAX_SET_ITEMS */
#include "task_impl.h"

static int corpus_vocab_total(const ds_task_spec *t) { return t->vocab; }

/* A row needs at least one input and one target. */
static int corpus_example_tokens(const ds_task_spec *t, int length) {
    (void)t, (void)length;
    return 2;
}

static int corpus_eval_tokens(const ds_task_spec *t, int length) {
    (void)t, (void)length;
    return 0;
}

static int64_t corpus_eval_count(const ds_task_spec *t, int length) {
    (void)t, (void)length;
    return 0;
}

/* Requires the sweep's data attached (ds_sweep_attach_data). */
static void corpus_train_row(const ds_task_spec *t, uint64_t seed, uint64_t row, int context,
                             int32_t *tokens, uint8_t *mask) {
    DS_ASSERT(t->corpus); /* ds_sweep_attach_data before any row */
    int slots[DS_MAX_SOURCES];
    for (int k = 0; k < t->n_sources; k++) slots[k] = t->sources[k].slots;
    ds_corpus_row(t->corpus, slots, seed, row, context, tokens, mask);
}

static void corpus_eval_example(const ds_task_spec *t, int length, int64_t index, int32_t *tokens,
                                uint8_t *mask) {
    (void)t, (void)length, (void)index, (void)tokens, (void)mask;
    DS_ASSERT(!"a corpus task has no evaluation examples");
}

static void corpus_token_name(const ds_task_spec *t, int32_t id, char *buf, int buflen) {
    if (id == t->eot) snprintf(buf, (size_t)buflen, "<eot>");
    else snprintf(buf, (size_t)buflen, "%d", (int)id);
}

static void corpus_detach(ds_task_spec *t) {
    ds_corpus_free(t->corpus);
    t->corpus = NULL;
    for (int i = 0; i < t->n_mc; i++) ds_mc_free(t->mc_sets[i]), t->mc_sets[i] = NULL;
}

/* The shards, then each multiple-choice set (src/mcfile.h: token ids below
 * the vocabulary, every item within the context, the scoring the sweep names
 * if it names one). All or nothing: on an error what was opened is freed. */
static int corpus_attach(ds_task_spec *t, int context, const char *sweep_path, ds_error *err) {
    if (t->corpus) return 0;
    ds_corpus *c = NULL;
    int rc = ds_corpus_open(t, context, sweep_path, &c, err);
    if (rc) return rc;
    t->corpus = c;
    static const char *const scorings[] = {"letter", "completion"};
    for (int i = 0; i < t->n_mc && !rc; i++) {
        char path[4096];
        ds_sweep_resolve(sweep_path, t->mc[i].path, path, sizeof path);
        rc = ds_mc_load(path, t->vocab, context, &t->mc_sets[i], err);
        if (!rc && t->mc_sets[i]->n_items > DS_MAX_SET_ITEMS)
            rc = ds_error_set(err, DS_EXIT_USAGE, "%s: eval.multiple_choice '%s' has %d items, more "
                              "than the %d a set may have", path, t->mc[i].name, t->mc_sets[i]->n_items,
                              DS_MAX_SET_ITEMS);
        if (!rc) t->mc[i].n_items = t->mc_sets[i]->n_items;
        if (!rc && t->mc[i].scoring >= 0 && (int)t->mc_sets[i]->scoring != t->mc[i].scoring)
            rc = ds_error_set(err, DS_EXIT_USAGE, "%s: eval.multiple_choice '%s' says scoring %s, the "
                              "file's prompts are built for %s scoring (tools/make_mc_eval.py --scoring)",
                              path, t->mc[i].name, scorings[t->mc[i].scoring],
                              scorings[t->mc_sets[i]->scoring]);
    }
    if (rc) corpus_detach(t);
    return rc;
}

const ds_task_ops ds_task_corpus_ops = {
    .name = "corpus",
    .vocab_total = corpus_vocab_total,
    .example_tokens = corpus_example_tokens,
    .eval_tokens = corpus_eval_tokens,
    .eval_count = corpus_eval_count,
    .train_row = corpus_train_row,
    .eval_example = corpus_eval_example,
    .token_name = corpus_token_name,
    .describe = NULL,
    .attach = corpus_attach,
    .detach = corpus_detach,
};
