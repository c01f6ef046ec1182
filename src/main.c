/* distsweep: entry point. Dispatches to the subcommands of cli.h. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "common.h"
#include "version.h"

typedef struct {
    const char *name;
    ds_cmd_fn fn;
    const char *summary;
} ds_command;

/* The command table. `run` is also what a bare `distsweep SWEEP.yaml` does. */
static int cmd_help(int argc, char **argv);
static const ds_command commands[] = {
    {"help", cmd_help, "this message"},
    {"plan", ds_cmd_plan, "validate a sweep file and print its job grid, parameters, FLOPs and cost"},
    {"report", ds_cmd_report, "distribution statistics of a result file (docs/spec-tasks.md §7)"},
    {"compare", ds_cmd_compare, "two populations of seeds (files or scales): differences, W2, CIs, p-values"},
    {"sample", ds_cmd_sample, "decoded training/evaluation examples with their loss mask"},
    {"run", ds_cmd_run, "run or resume a sweep (also: distsweep SWEEP.yaml; mpirun for many ranks)"},
    {"status", ds_cmd_status, "done/failed/pending runs per scale, rate and ETA; safe while running"},
    {"train", ds_cmd_train, "train one pack of seeds of one scale in this process and print its metrics"},
    {"export", ds_cmd_export, "write a stored model (run.save_models) as a Hugging Face GPT-NeoX directory"},
    {"eval", ds_cmd_eval, "evaluate a stored model at any test length; --show decodes examples"},
    {"verify", ds_cmd_verify, "check every file of a sweep's output (after a copy); --repair rebuilds what it can"},
    {"bench", ds_cmd_bench, "steps/s, tokens/s and achieved GFLOP/s of one pack on one backend"},
};

static void usage(FILE *f) {
    fprintf(f,
            "usage: distsweep [run] SWEEP.yaml [options]   run or resume a sweep\n"
            "       distsweep COMMAND [options]\n\n"
            "Trains populations of small transformers, many seeds per scale, and stores\n"
            "the per-seed metric distributions in one HDF5 file.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
            "\n'distsweep COMMAND --help' describes each command.\n"
            "exit codes: 0 ok, 1 error, 2 usage or sweep-file error, 3 interrupted (resumable),\n"
            "4 storage failure: disk full, read-only or I/O error (fix it, run again)\n");
}

static int cmd_help(int argc, char **argv) {
    usage(stdout);
    return DS_EXIT_OK;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return DS_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return DS_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("distsweep %s (git %s)\n", DS_VERSION, DS_GIT_COMMIT);
        return DS_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    /* `distsweep SWEEP.yaml ...` is `distsweep run SWEEP.yaml ...`; run reports
     * an unknown option or a missing file itself */
    return ds_cmd_run(argc, argv);
}
