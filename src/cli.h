/* cli: the subcommands of the distsweep executable (docs/design.md §4).
 *
 * Each command lives in src/cmd_<name>.c and has the signature below: it gets
 * argv after the command name (argv[0] is the command name), parses its own
 * options, prints its own --help, and returns a process exit code
 * (DS_EXIT_*). Commands never call exit() themselves except through ds_die. */
#ifndef DS_CLI_H
#define DS_CLI_H

typedef int (*ds_cmd_fn)(int argc, char **argv);

int ds_cmd_plan(int argc, char **argv);
int ds_cmd_sample(int argc, char **argv);
int ds_cmd_train(int argc, char **argv);
int ds_cmd_bench(int argc, char **argv);
int ds_cmd_run(int argc, char **argv);
int ds_cmd_status(int argc, char **argv);
int ds_cmd_report(int argc, char **argv);
int ds_cmd_export(int argc, char **argv);
int ds_cmd_eval(int argc, char **argv);

/* True if argv[1..] contains -h or --help. */
int ds_cli_wants_help(int argc, char **argv);

#endif
