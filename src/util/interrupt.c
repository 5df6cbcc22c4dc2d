/*
 * interrupt: the SIGINT/SIGTERM counter. A signal handler can reach nothing
 * but globals, so this counter is the one piece of process-wide state
 * lifeboat keeps (see util.h).
 */
#include <signal.h>
#include <string.h>

#include "lifeboat/util.h"

static volatile sig_atomic_t interrupt_count;
/* Signals already handled (acknowledged); only the thread that runs the
 * drill writes it. */
static sig_atomic_t interrupt_handled;

/* Count the signal; everything else happens in the waits that poll it. */
static void on_signal(int sig)
{
    (void)sig;
    if (interrupt_count < 1000)
        interrupt_count++;
}

void lb_interrupt_install(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: blocking calls return EINTR and notice the flag. */
    sa.sa_flags = 0;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int lb_interrupted(void)
{
    return (int)(interrupt_count - interrupt_handled);
}

void lb_interrupt_acknowledge(void)
{
    interrupt_handled = interrupt_count;
}

void lb_interrupt_reset(void)
{
    interrupt_count = 0;
    interrupt_handled = 0;
}

void lb_interrupt_raise(void)
{
    if (interrupt_count < 1000)
        interrupt_count++;
}
