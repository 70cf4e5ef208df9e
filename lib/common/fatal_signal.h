// What the daemon leaves on standard error when a fatal signal ends it: the log lines
// still queued for the writer thread (common/log_output.h), then one line that says so:
//   ts=2026-12-07T18:42:18Z level=error event=fatal_signal signal=SIGSEGV code=SEGV_MAPERR addr=0x0 thread=whoisd-loop0 tid=4242 queued_written=37
//
// Why: the daemon's log lines wait in a buffer for a thread of their own, so a process
// that dies at once (abort(), a crash: SIGSEGV, SIGBUS, SIGFPE, SIGILL; systemd's
// watchdog, which sends SIGABRT) took the last lines with it, the very ones that say why
// it died, and nothing said that it died. An uncaught exception is covered elsewhere
// (std::terminate flushes, log_output.cpp); this covers the signals.
//
// The handler (sigaction, SA_ONSTACK) is async-signal-safe as far as it can be: no
// allocation; the buffer's lock is only tried, for a moment, then the final line says
// the queued lines were lost (queued_lost=unknown); the batch the writer thread is
// writing right then gets a moment to finish first. Everything is written with plain
// system calls and a deadline, so that a standard error nobody reads (a stuck journald, a
// full pipe) cannot hold the process up: about 1.5 s for the queued lines, a quarter of
// a second more for the final line, then it gives up. A pipe is written through a
// non-blocking descriptor of its own (/proc/self/fd/2; the shared one's flags are left
// alone), a socket with MSG_DONTWAIT, anything else in pieces of at most PIPE_BUF bytes
// once poll(2) says there is room.
//
// Then the signal carries on as if there had been no handler: the previous action comes
// back (the default, or a sanitizer's handler, which then reports as before) and a fault
// is met again on return (the faulting instruction runs again), a sent signal (kill,
// raise, abort) is raised again, so that the exit status, the core dump and what
// systemd records are unchanged. A second fatal signal in the thread that is handling
// one goes straight on (a fault in the handler itself meets the default action: the
// kernel forces it while the handler blocks the signal). Any of the five signals in
// another thread, the same one too, waits for the first to end the process (the action
// stays installed until then: no SA_RESETHAND, which made the same signal in a second
// thread end the process at once, the report cut short).
//
// A stack overflow is handled only on a thread with an alternate signal stack
// (use_alternate_stack(): the daemon's main thread and every thread it starts,
// common/thread_setup.h, and libuv's pool threads when they run a reload); on another,
// the overflow ends the process with the default action, as before.
//
// Only in the daemon (whoisd's main()); the tools write their lines directly. Not under
// ThreadSanitizer (install() does nothing there: its signal handling defers and checks
// handlers in ways this one cannot meet); under AddressSanitizer the handler runs first
// and then passes the signal to ASan's, whose report follows the lines.
#pragma once

namespace whoisd::fatal_signal {

// Installs the handler for SIGABRT, SIGSEGV, SIGBUS, SIGFPE and SIGILL, and gives the
// calling thread an alternate signal stack. Once, early, before other threads start.
void install();

// Whether install() installs the handler in this build (not under ThreadSanitizer).
bool supported();
// Whether install() has installed it.
bool installed();

// Gives the calling thread an alternate signal stack, kept until the thread ends, unless
// it has one already (a sanitizer's) or install() has not run (then it does nothing).
void use_alternate_stack() noexcept;

}  // namespace whoisd::fatal_signal
