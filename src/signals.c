/* signals: see signals.h. */
#define _POSIX_C_SOURCE 200809L
#include "signals.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

/* The only mutable global of distsweep: a signal handler can reach nothing else. */
static volatile sig_atomic_t g_stop_signal = 0;
static volatile sig_atomic_t g_sigints = 0;

static void on_signal(int sig) {
    if (sig == SIGINT && ++g_sigints >= 2) {
        static const char msg[] = "\ndistsweep: second SIGINT, exiting now\n";
        ssize_t ignored = write(2, msg, sizeof msg - 1);
        (void)ignored;
        _exit(DS_EXIT_INTERRUPTED);
    }
    g_stop_signal = sig;
}

void ds_signals_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

int ds_signals_stop_requested(void) { return (int)g_stop_signal; }
