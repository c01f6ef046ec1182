/* cli: the subcommands of the distsweep executable (docs/design.md §4).
 *
 * Each command lives in src/cmd_<name>.c and has the signature below: it gets
 * argv after the command name (argv[0] is the command name), parses its own
 * options, prints its own --help, and returns a process exit code
 * (DS_EXIT_*). Commands never call exit() themselves except through ds_die.
 *
 * Also owns what the commands share (src/cli.c): the parsing of option
 * values (numbers and --scale), so that every command accepts the same
 * forms and words the same error, and the stored run that `export` and
 * `eval` open from a result file. */
#ifndef DS_CLI_H
#define DS_CLI_H

#include <stdint.h>

#include "common.h"
#include "results.h" /* ds_results, inside ds_cli_stored_run */
#include "sweep.h"

typedef int (*ds_cmd_fn)(int argc, char **argv);

int ds_cmd_plan(int argc, char **argv);
int ds_cmd_sample(int argc, char **argv);
int ds_cmd_train(int argc, char **argv);
int ds_cmd_bench(int argc, char **argv);
int ds_cmd_run(int argc, char **argv);
int ds_cmd_status(int argc, char **argv);
int ds_cmd_report(int argc, char **argv);
int ds_cmd_compare(int argc, char **argv);
int ds_cmd_export(int argc, char **argv);
int ds_cmd_eval(int argc, char **argv);
int ds_cmd_verify(int argc, char **argv);

/* True if argv[1..] contains -h or --help. */
int ds_cli_wants_help(int argc, char **argv);

/* ---- option values -------------------------------------------------------------
 * Each parses the value `text` of option `option` (its name, for the message;
 * text NULL when the command line ended before the value). The whole text must
 * be the number: no leading blank, no trailing junk, no overflow. On success
 * *out is set and 0 returned; otherwise *out is untouched and DS_EXIT_USAGE
 * returned with err set to one wording for every command, e.g.
 *   --pack needs an integer from 1 to 100000, got 'x'
 *   --top needs an integer >= 0, got '-1'
 *   --efficiency needs a number in (0, 1], got '1.5'
 * which the command prints after its own "distsweep CMD: ". */

/* A decimal integer in [min, max]. */
int ds_cli_int(const char *option, const char *text, int min, int max, int *out, ds_error *err);
/* The same for 64-bit values. */
int ds_cli_int64(const char *option, const char *text, int64_t min, int64_t max, int64_t *out,
                 ds_error *err);
/* A finite number (strtod's forms, not nan or inf) x with lo <= x <= hi, or
 * lo < x <= hi when lo_open; lo may be -INFINITY and hi INFINITY (no bound). */
int ds_cli_double(const char *option, const char *text, double lo, int lo_open, double hi,
                  double *out, ds_error *err);

/* A scale of sweep s, as --scale takes it in every command (train, bench,
 * export, eval): a row of the scale table ("0", "1", ...; digits only) or a
 * scale's name ("d64_L2", ds_scale_name). Returns 0 with *scale the row, or
 * DS_EXIT_USAGE with err "FILE: no scale 'X' (scales: 0=d64_L1, 1=d64_L2)"
 * (FILE: s->path, the sweep file or the result file it was read from). */
int ds_cli_scale(const ds_sweep *s, const char *text, int *scale, ds_error *err);

/* ---- a stored run -------------------------------------------------------------- */

/* A stored run opened from a result file, for `export` and `eval`. */
typedef struct {
    ds_results res;      /* the result file, loaded (src/results.h) */
    ds_sweep *s;         /* its sweep, from the sweep_yaml attribute */
    int scale;           /* row of /scales */
    int64_t seed, seed_idx;
    int64_t steps;       /* steps the model was trained */
    float *params;       /* [P], model.h layout */
    char model_path[4400];
} ds_cli_stored_run;

/* Opens run (scale, seed) of result file path: scale_arg as ds_cli_scale
 * takes it, seed a job seed. Loads the sweep the file stores and the run's
 * model (checksum verified). Errors: a file that is not a result file, an
 * unknown scale or a seed outside the file, a run that is not done, a run
 * without a stored model -> DS_EXIT_USAGE; a model file that is damaged or
 * of another run -> DS_EXIT_ERROR; err says which, naming the files. A
 * sweep with model.init is attached (src/hfmodel.h: its init.from resolved
 * against the result file's directory), since config.json gives its
 * architecture; without that directory -> DS_EXIT_USAGE. out needs
 * ds_cli_stored_run_close either way. */
int ds_cli_stored_run_open(const char *path, const char *scale_arg, int64_t seed,
                           ds_cli_stored_run *out, ds_error *err);
void ds_cli_stored_run_close(ds_cli_stored_run *r);

#endif
