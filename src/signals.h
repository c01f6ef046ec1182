/* signals: turns SIGTERM, SIGUSR1 and SIGINT into a "stop" request that the
 * training loop polls between steps (docs/design.md §4).
 *
 * Owns the process's handlers for those three signals and the one piece of
 * global state a signal handler needs: a counter of stop requests. A second
 * SIGINT exits at once with code 3 (the result file stays consistent: rank 0
 * flushes after every batch of runs, and a resume recovers the file). */
#ifndef DS_SIGNALS_H
#define DS_SIGNALS_H

/* Installs the handlers (idempotent). */
void ds_signals_install(void);
/* The number of the last stop signal received, or 0 if none. */
int ds_signals_stop_requested(void);

#endif
