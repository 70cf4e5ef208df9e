// Two async-signal-safe readings shared by the log output and the fatal signal handler,
// which hand each other deadlines (log_output.h, take_queued_lines_at_crash) and thread
// ids (the writer thread's, the crashing thread's): one definition of the clock those
// deadlines are on and of the id compared.
#pragma once

#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>

namespace whoisd {

// `clock` (CLOCK_MONOTONIC for deadlines, CLOCK_REALTIME for a timestamp) in nanoseconds.
inline std::int64_t clock_ns(clockid_t clock) noexcept {
  timespec t{};
  ::clock_gettime(clock, &t);
  return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

inline std::int64_t monotonic_ns() noexcept { return clock_ns(CLOCK_MONOTONIC); }

// The kernel's id of the calling thread (what top -H and /proc/PID/task show).
inline pid_t kernel_thread_id() noexcept { return static_cast<pid_t>(::syscall(SYS_gettid)); }

}  // namespace whoisd
