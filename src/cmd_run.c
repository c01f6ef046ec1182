/* cmd_run: `distsweep [run] SWEEP.yaml` — run or resume a sweep over MPI
 * (docs/design.md §1, §4). Every rank parses the same command line; rank 0 loads the
 * sweep, checks and opens the result file, and broadcasts the sweep text and
 * a go/no-go code, so all ranks agree before any training starts. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backend.h"
#include "cli.h"
#include "common.h"
#include "engine.h"
#include "h5check.h"
#include "hfmodel.h"
#include "modelfile.h"
#include "output.h"
#include "scheduler.h"
#include "signals.h"
#include "store.h"
#include "sweep.h"
#include "synth.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: distsweep [run] SWEEP.yaml [-o OUT.h5] [--backend auto|cpu|cuda] [--fresh]\n"
            "                 [--retry-failed] [--pack N] [--quiet]\n\n"
            "Runs the sweep, or resumes it when OUT.h5 exists: finished runs are skipped,\n"
            "interrupted packs continue from their checkpoints (OUT.h5.ckpt/). Launch with\n"
            "`mpirun -np N distsweep SWEEP.yaml` for N ranks, or without mpirun for one.\n\n"
            "  -o OUT.h5         result file (default: the sweep's `output`)\n"
            "  --backend B       auto, cpu or cuda (default: the sweep's run.backend); auto\n"
            "                    is cuda when this build has CUDA and a GPU is visible, else cpu\n"
            "  --fresh           move an existing OUT.h5 (and its journal, checkpoints and\n"
            "                    stored models)\n"
            "                    aside to OUT.old-<UTC time>.h5 and start over\n"
            "  --retry-failed    run again the runs whose status is failed\n"
            "  --pack N          seeds per pack (overrides run.pack)\n"
            "  --quiet           no progress display\n\n"
            "A larger seeds.count in the sweep file extends the file and runs only the new\n"
            "seeds; any other change of the sweep definition is refused. An adaptive sweep\n"
            "(seeds.adaptive) gives each scale seeds until its CI is narrow enough; changing\n"
            "its block (a lower ci_width, a higher max) continues the file.\n"
            "Signals: SIGTERM, SIGUSR1, SIGINT checkpoint every rank and exit 3 (resumable);\n"
            "a second SIGINT exits at once.\n"
            "exit codes: 0 sweep complete, 1 error (or runs failed), 2 usage, sweep-file or\n"
            "output-file error (nothing written), 3 interrupted (run the same command again),\n"
            "4 the results or a checkpoint could not be written (disk full, read-only, I/O\n"
            "error): nothing finished is lost; fix the storage and run the same command again.\n"
            "DISTSWEEP_HDF5_DIAG=1 shows HDF5's own diagnostics.\n");
}

/* The real job kind: the engine. */
static int engine_pack(void *ctx, const ds_sweep *s, int scale, const int64_t *seeds, int R,
                       const ds_train_opts *opts, ds_run_result *results, ds_error *err) {
    (void)ctx;
    return ds_train_pack(s, scale, seeds, R, opts, results, err);
}

/* The synthetic job kind (synth.h); ctx points at the seconds per pack. */
static int synth_pack(void *ctx, const ds_sweep *s, int scale, const int64_t *seeds, int R,
                      const ds_train_opts *opts, ds_run_result *results, ds_error *err) {
    return ds_synth_pack(*(const double *)ctx, s, scale, seeds, R, opts, results, err);
}

typedef struct {
    const char *sweep_path, *out;
    int fresh, retry_failed, pack, quiet, backend_set;
    ds_backend_kind backend;
    double synth_s; /* < 0: real engine */
} run_args;

static int parse_args(int argc, char **argv, run_args *a, ds_error *err) {
    memset(a, 0, sizeof *a);
    a->synth_s = -1;
    for (int i = 1; i < argc; i++) {
        const char *v = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(v, "-o") || !strcmp(v, "--output")) {
            if (!next) return ds_error_set(err, DS_EXIT_USAGE, "%s needs a file name", v);
            a->out = next, i++;
        } else if (!strcmp(v, "--backend")) {
            if (!next) return ds_error_set(err, DS_EXIT_USAGE, "--backend needs auto, cpu or cuda");
            if (ds_backend_kind_parse(next, &a->backend, err)) return err->code;
            a->backend_set = 1, i++;
        } else if (!strcmp(v, "--fresh")) {
            a->fresh = 1;
        } else if (!strcmp(v, "--retry-failed")) {
            a->retry_failed = 1;
        } else if (!strcmp(v, "--quiet") || !strcmp(v, "-q")) {
            a->quiet = 1;
        } else if (!strcmp(v, "--pack")) {
            if (ds_cli_int(v, next, 1, 100000, &a->pack, err)) return err->code;
            i++;
        } else if (!strcmp(v, "--synthetic-job-seconds")) {
            if (ds_cli_double(v, next, 0, 0, INFINITY, &a->synth_s, err)) return err->code;
            i++;
        } else if (v[0] == '-' && v[1]) {
            return ds_error_set(err, DS_EXIT_USAGE, "unknown option '%s' (see distsweep run --help)", v);
        } else if (!a->sweep_path) {
            a->sweep_path = v;
        } else {
            return ds_error_set(err, DS_EXIT_USAGE, "unexpected argument '%s'", v);
        }
    }
    if (!a->sweep_path)
        return ds_error_set(err, DS_EXIT_USAGE, "no sweep file given (distsweep run SWEEP.yaml)");
    return 0;
}

/* GPU selection (docs/design.md §7): each rank takes the GPU numbered (rank on this
 * node) modulo (GPUs visible), by narrowing CUDA_VISIBLE_DEVICES to that one
 * before anything initialises CUDA; the engine then uses device 0. Visible
 * GPUs: the CUDA_VISIBLE_DEVICES list when set (Slurm sets it), else the
 * driver's /proc/driver/nvidia/gpus entries. One or no GPU: nothing to do. */
static void select_gpu(MPI_Comm comm) {
    MPI_Comm node;
    int local = 0;
    DS_MPI_CHECK(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node));
    DS_MPI_CHECK(MPI_Comm_rank(node, &local));
    MPI_Comm_free(&node);
    char ids[64][32];
    int n = 0;
    const char *vis = getenv("CUDA_VISIBLE_DEVICES");
    if (vis) {
        char buf[2048];
        snprintf(buf, sizeof buf, "%s", vis);
        for (char *save = NULL, *t = strtok_r(buf, ",", &save); t && n < 64;
             t = strtok_r(NULL, ",", &save))
            snprintf(ids[n++], sizeof ids[0], "%s", t);
    } else {
        DIR *d = opendir("/proc/driver/nvidia/gpus");
        struct dirent *e;
        while (d && (e = readdir(d)) && n < 64)
            if (e->d_name[0] != '.') snprintf(ids[n], sizeof ids[0], "%d", n), n++;
        if (d) closedir(d);
    }
    if (n <= 1) return;
    setenv("CUDA_VISIBLE_DEVICES", ids[local % n], 1);
}

/* Rank 0, resuming with run.save_models: a done run whose seed the sweep
 * saves must have its stored model (src/modelfile.h); one whose model is
 * missing or damaged (ds_modelfile_check: header, size and checksum) is
 * not trusted and runs again (the file goes back to pending for it), as a
 * done run without its data does in the store; a damaged file is moved
 * aside first (ds_output_set_damaged_aside: kept, renamed), with one line on
 * stderr each. Errors: a rename fails -> DS_EXIT_ERROR. Also
 * what turning save_models on for a finished sweep does: its runs train
 * again, to the same bits, and leave their models. */
static int check_models(const ds_sweep *s, const char *out, ds_store *store, ds_error *err) {
    int n = 0;
    char first[sizeof err->msg];
    int rc = ds_modelfile_reset_unusable(s, out, store, &n, first, sizeof first, err);
    if (!rc && n)
        fprintf(stderr, "distsweep: %d done run(s) have no usable stored model (run.save_models; "
                "first: %s): they run again\n", n, first);
    return rc;
}

/* Rank 0: opens the output for the run (src/output.h decides: a new file, a
 * resume, a rebuild from the journal, or a refusal with its message), says
 * what it moved aside, opens the store and says what its open did. *lock is
 * the writer's lock, held on success. */
static int prepare_output(const run_args *a, const ds_sweep *s, const char *out, ds_store **store,
                          int *lock, ds_error *err) {
    ds_output_opts oo = {.fresh = a->fresh};
    ds_output_open_result res;
    int rc = ds_output_open_for_run(s, out, &oo, &res, err);
    *lock = res.lock_fd;
    if (res.damaged_to[0])
        fprintf(stderr, "distsweep: damaged: %s\ndistsweep: moved the damaged file to %s; "
                        "rebuilding %s from %s\n", res.why, res.damaged_to, out, res.journal);
    if (res.fresh_to[0])
        fprintf(stderr, "distsweep: --fresh: moved the old %s (and journal, checkpoints, stored models) to %s\n",
                out, res.fresh_to);
    if (rc) return rc;
    ds_store_info info;
    if ((rc = ds_store_open(s, out, a->retry_failed, store, &info, err))) return rc;
    if (info.created && !info.rebuilt) fprintf(stderr, "distsweep: created %s\n", out);
    if (info.rebuilt)
        fprintf(stderr, "distsweep: made %s again from its journal (%s)\n", out, res.journal);
    if (info.recovered)
        fprintf(stderr, "distsweep: %s was not closed by its last writer (killed, or stopped by "
                "a storage failure); recovered\n", out);
    if (info.new_seeds > info.old_seeds && !info.created)
        fprintf(stderr, "distsweep: extended the seed axis of %s from %lld to %lld seeds\n", out,
                (long long)info.old_seeds, (long long)info.new_seeds);
    if (info.replayed)
        fprintf(stderr, "distsweep: restored %lld run(s) from the journal%s\n",
                (long long)info.replayed,
                info.repaired ? " (some were marked finished in the file without their data)" : "");
    if (info.reset)
        fprintf(stderr, "distsweep: %lld run(s) were marked finished in %s without their data "
                "and are not in the journal: they run again\n", (long long)info.reset, out);
    if (info.stale_journal)
        fprintf(stderr, "distsweep: moved a journal of another result file aside (%s.stale-*)\n",
                res.journal);
    return check_models(s, out, *store, err);
}

int ds_cmd_run(int argc, char **argv) {
    if (ds_cli_wants_help(argc, argv)) {
        usage(stdout);
        return DS_EXIT_OK;
    }
    run_args a;
    ds_error err = {0};
    ds_sweep *s = NULL;
    ds_store *store = NULL;
    char *text = NULL;
    int provided, rank = 0, size = 1, rc = 0, lock = -1;
    MPI_Comm comm = MPI_COMM_NULL;

    if (parse_args(argc, argv, &a, &err)) {
        fprintf(stderr, "distsweep: %s\n", err.msg);
        return err.code;
    }
    /* before any HDF5 call: no close at exit, diagnostics only when asked */
    ds_h5_library_init();
    /* Handlers before MPI_Init: a signal during start-up must not kill us. */
    ds_signals_install();
    if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        ds_die(DS_EXIT_ERROR, "MPI_Init_thread failed");
    DS_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &comm));
    DS_MPI_CHECK(MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN));
    DS_MPI_CHECK(MPI_Comm_rank(comm, &rank));
    DS_MPI_CHECK(MPI_Comm_size(comm, &size));

    /* Rank 0 loads the sweep and prepares the output; the others get the text. */
    int64_t len = 0;
    char out[4096] = "";
    if (rank == 0) {
        rc = ds_sweep_load(a.sweep_path, &s, &err);
        /* model.init's base model and the corpus's shards before the output
         * exists: bad files write nothing */
        if (!rc) rc = ds_hf_attach(s, &err);
        if (!rc) rc = ds_sweep_attach_data(s, &err);
        if (!rc) {
            snprintf(out, sizeof out, "%s", a.out ? a.out : s->output);
            if (!out[0]) rc = ds_error_set(&err, DS_EXIT_USAGE, "no output file (-o or output:)");
        }
        /* a backend named outright is checked before anything is written;
         * auto once it is resolved, below */
        ds_backend_kind named = a.backend_set ? a.backend : s ? s->run.backend : DS_BACKEND_AUTO;
        if (!rc && named != DS_BACKEND_AUTO && a.synth_s < 0)
            rc = ds_backend_supports(named, s->train.precision, &err);
        if (!rc && named != DS_BACKEND_AUTO && a.synth_s < 0)
            rc = ds_backend_supports_block(named, s->model.block, &err);
        if (!rc && a.synth_s >= 0 && s->run.save_models)
            /* a synthetic job trains no model, so a done run would never have one */
            rc = ds_error_set(&err, DS_EXIT_USAGE, "run.save_models cannot be used with "
                              "--synthetic-job-seconds: synthetic jobs train no model");
        if (!rc && a.synth_s >= 0) {
            /* the synthetic distribution's setting, checked before anything is written */
            double *p = DS_MALLOC(sizeof *p * (size_t)s->n_scales);
            rc = ds_synth_probs(s, p, &err);
            free(p);
        }
        if (!rc) rc = ds_sched_check_groups(s, size, &err);
        if (!rc) rc = prepare_output(&a, s, out, &store, &lock, &err);
        if (rc) fprintf(stderr, "distsweep: %s\n", err.msg);
        if (rc == DS_EXIT_STORAGE)
            fprintf(stderr, "distsweep: nothing finished is lost; free space on that file system "
                    "(or make it writable again) and run the same command again\n");
        if (!rc) len = (int64_t)strlen(s->yaml_text) + 1;
    }
    DS_MPI_CHECK(MPI_Bcast(&rc, 1, MPI_INT, 0, comm));
    if (rc) goto done;
    DS_MPI_CHECK(MPI_Bcast(&len, 1, MPI_INT64_T, 0, comm));
    DS_MPI_CHECK(MPI_Bcast(out, sizeof out, MPI_CHAR, 0, comm));
    text = DS_MALLOC((size_t)len);
    if (rank == 0) memcpy(text, s->yaml_text, (size_t)len);
    DS_MPI_CHECK(MPI_Bcast(text, (int)len, MPI_CHAR, 0, comm));
    if (rank != 0) {
        int lrc = ds_sweep_load_text(a.sweep_path, text, &s, &err);
        DS_ASSERT(lrc == 0); /* rank 0 loaded the very same text */
    }
    {
        /* every rank reads the corpus's shards and model.init's config and
         * weights itself (rank 0 did above); a rank that cannot stops them all */
        ds_error aerr = {0};
        s->model.init.quiet = rank != 0; /* rank 0's attach said what it had to */
        int arc = rank != 0 ? ds_hf_attach(s, &aerr) : 0;
        if (!arc && rank != 0) arc = ds_sweep_attach_data(s, &aerr);
        int any = arc;
        DS_MPI_CHECK(MPI_Allreduce(&arc, &any, 1, MPI_INT, MPI_MAX, comm));
        if (any) {
            if (arc) fprintf(stderr, "distsweep: rank %d: %s\n", rank, aerr.msg);
            rc = any;
            goto done;
        }
    }

    ds_backend_kind backend = a.backend_set ? a.backend : s->run.backend;
    if (backend != DS_BACKEND_CPU && a.synth_s < 0) select_gpu(comm);
    backend = ds_backend_resolve(backend); /* after select_gpu: it initialises CUDA */
    {
        /* every rank's backend must implement train.precision, or no rank trains */
        ds_error perr = {0};
        int prc = a.synth_s < 0 ? ds_backend_supports(backend, s->train.precision, &perr) : 0;
        if (!prc && a.synth_s < 0) prc = ds_backend_supports_block(backend, s->model.block, &perr);
        int any = prc;
        DS_MPI_CHECK(MPI_Allreduce(&prc, &any, 1, MPI_INT, MPI_MAX, comm));
        if (any) {
            if (rank == 0)
                fprintf(stderr, "distsweep: %s\n", prc ? perr.msg : "a rank's backend does not "
                        "implement the sweep's train.precision");
            rc = DS_EXIT_USAGE;
            goto done;
        }
    }
    /* rank 0 sizes automatic packs to its own GPU's free memory (the ranks of
     * a job are alike; a pack that still does not fit is retried smaller) */
    double device_bytes = rank == 0 && a.synth_s < 0 ? ds_backend_device_bytes(backend) : 0;
    ds_sched_opts so = {.s = s, .out_path = out, .store = store, .backend = backend,
                        .device_bytes = device_bytes,
                        .comm = comm, .pack = a.pack, .quiet = a.quiet || rank != 0};
    if (a.synth_s >= 0) so.run_pack = synth_pack, so.run_ctx = &a.synth_s;
    else so.run_pack = engine_pack;
    ds_sched_stats st;
    rc = ds_sched_run(&so, &st, &err);
    if (rank == 0) {
        ds_error cerr = {0};
        if (ds_store_close(store, &cerr) && !rc) rc = cerr.code, err = cerr;
        store = NULL;
        char counts[256];
        snprintf(counts, sizeof counts, "%lld done, %lld diverged, %lld failed, %lld pending",
                 (long long)st.done_left, (long long)st.diverged_left, (long long)st.failed_left,
                 (long long)st.pending_left);
        if (rc == DS_EXIT_STORAGE) {
            fprintf(stderr, "distsweep: stopped: %s\n"
                    "distsweep: nothing finished is lost (%s; %lld run(s) stored now). Free space "
                    "on that file system (or make it writable again) and run the same command "
                    "again to resume\n", err.msg, counts, (long long)st.stored);
        } else if (rc && rc != DS_EXIT_INTERRUPTED) {
            fprintf(stderr, "distsweep: %s\n", err.msg);
        } else if (rc == DS_EXIT_INTERRUPTED) {
            fprintf(stderr, "distsweep: interrupted: %s (%lld run(s) stored now); run the same "
                    "command again to resume\n", counts, (long long)st.stored);
        } else if (st.failed_left > 0 || st.pending_left > 0) {
            fprintf(stderr, "distsweep: sweep finished with runs left: %s (%lld run(s) stored now "
                    "in %.1f s); %s\n", counts, (long long)st.stored, st.wall_s, out);
            if (st.failed_left > 0)
                fprintf(stderr, "distsweep: `distsweep %s --retry-failed` runs the failed runs "
                        "again\n", a.sweep_path);
            rc = DS_EXIT_ERROR;
        } else {
            fprintf(stderr, "distsweep: sweep complete: %s (%lld run(s) stored now in %.1f s); %s\n",
                    counts, (long long)st.stored, st.wall_s, out);
        }
        const char *bench = ds_env("DISTSWEEP_SCHED_STATS", "DS_SCHED_STATS");
        if (bench && *bench) {
            FILE *f = fopen(bench, "w");
            if (f) {
                fprintf(f, "{\"ranks\": %d, \"stored\": %lld, \"wall_s\": %.6f, \"store_s\": %.6f, "
                        "\"busy_s\": %.6f, \"idle_s\": %.6f}\n", size, (long long)st.stored,
                        st.wall_s, st.store_s, st.busy_s, st.idle_s);
                fclose(f);
            }
        }
    }
    if (rank == 0 && st.abandoned) {
        /* a dead rank would hang the collective below and MPI_Finalize; the
         * file is closed and every live rank has checkpointed */
        ds_output_unlock(lock);
        MPI_Abort(comm, rc ? rc : DS_EXIT_INTERRUPTED);
    }
    /* every rank leaves with the same code */
    DS_MPI_CHECK(MPI_Bcast(&rc, 1, MPI_INT, 0, comm));
done:
    if (store) {
        ds_error cerr = {0};
        ds_store_close(store, &cerr);
    }
    ds_output_unlock(lock); /* after the file is closed */
    free(text);
    ds_sweep_free(s);
    if (comm != MPI_COMM_NULL) MPI_Comm_free(&comm);
    MPI_Finalize();
    return rc;
}
