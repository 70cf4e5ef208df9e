// What a background thread of the daemon does first: a name (top -H, perf sched and
// /proc/PID/task tell the threads apart), an alternate signal stack (so that a stack
// overflow on it is reported, common/fatal_signal.h) and, for the writers, the lowest
// CPU priority.
//
// Why SCHED_IDLE for the writers (bench/README.md, "End-to-end results", has the
// measurements): at the same priority as the event loops, a writer's transaction runs
// for milliseconds on one core and the scheduler lets a woken loop wait behind it,
// even with the other core idle. A SCHED_IDLE thread is preempted as soon as a normal
// thread wakes on its core, and the core counts as idle when a woken thread is placed.
// It still gets every moment nothing else wants the CPU. A SCHED_IDLE thread must never
// hold a lock that an event loop waits for (it may be preempted holding it): the query
// log's hand-off has none.
#pragma once

#include <string_view>

namespace whoisd {

// Names the calling thread (at most 15 characters are kept) and gives it an alternate
// signal stack once the fatal signal handler is installed. Every thread the daemon
// starts calls it (or set_up_writer_thread) first.
void set_up_thread(const char* name) noexcept;
// For a thread of libuv's pool, which the daemon does not start: the alternate stack
// only (its name is libuv's own).
void set_up_pool_thread() noexcept;
// Puts the calling thread in SCHED_IDLE. false (and the thread unchanged) when the
// system refuses; the caller logs it.
bool lower_this_thread_to_idle_priority() noexcept;

// What both writer threads (the query log's, the limiter state's) do first:
// set_up_thread(name) and, when idle_priority, lower it to SCHED_IDLE; a refusal (a
// system call filter without sched_setscheduler, say) is logged as a warning
// `refused_event` naming the thread, which then runs at normal priority.
void set_up_writer_thread(const char* name, bool idle_priority, std::string_view refused_event);

}  // namespace whoisd
