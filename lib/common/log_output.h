// Where finished log lines go: standard error, written by the calling thread, or, while
// a BackgroundLogWriter exists (the daemon's run), by a thread of its own.
//
// Why a thread: standard error is journald's stream socket or a pipe, and a write to it
// blocks once the reader falls behind (a stalled journald, a pipe nobody reads). Written
// by the thread that logs, that stopped the event loops (a limit crossing logs on the
// loop), the control loop (SIGTERM could not stop the daemon) and the writers. Lines now
// wait in a bounded buffer; beyond it they are dropped and counted
// (whoisd_log_lines_dropped_total), and a `log_lines_dropped` line says how many once
// there is room again. A loop only ever takes the buffer's lock, which the writer holds
// for a swap, never for a write.
//
// Lines lost to a write that failed (EPIPE: the reader is gone; ENOSPC, EIO: standard
// error on a full or failing disk) are dropped lines too, counted and reported once a
// write succeeds again; a line such a write cut is ended before the next one.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace whoisd::log {

// Hands one finished line (ending in '\n') to the output.
void write_line(std::string&& line);

// Lines dropped since the process started: the buffer was full, or a write to standard
// error failed (each line it did not write whole).
std::uint64_t lines_dropped();

// For the fatal signal handler (common/fatal_signal.h) alone, in a process about to die:
// the lines queued for the writer thread, for the handler to write itself. No
// allocation, and no wait for the buffer's lock past `lock_deadline_ns` (CLOCK_MONOTONIC
// nanoseconds): the lock is only tried, and once taken is kept until the process ends,
// so that no thread adds to the buffer or writes from it while the handler does. A
// batch the writer thread is writing at that moment goes first: it is waited for until
// `batch_deadline_ns` (unless the writer thread is the one that crashed), after which
// the handler writes anyway. Called once: the lock is not given back.
struct QueuedAtCrash {
  std::string_view lines;  // whole lines, in order; empty when there are none
  bool after_cut = false;  // the output ends inside a line: end it before these
  bool unreadable = false; // the lock stayed held (by the crashing thread, say): lines lost
};
QueuedAtCrash take_queued_lines_at_crash(std::int64_t lock_deadline_ns, std::int64_t batch_deadline_ns);

// Waits, at most `at_most`, until every line queued so far is written (or dropped and
// counted) and returns whether that happened; at once true when lines are written
// directly. For the moments an outside observer reads the log next: whoisd's start
// line must be out before it tells systemd READY=1 (a script that finds the port in it
// then, the journal's order). Not on an event loop, and not on the writer thread.
bool wait_until_written(std::chrono::milliseconds at_most);

class BackgroundLogWriter {
 public:
  static constexpr std::size_t kDefaultCapacityBytes = 1 << 20;
  static constexpr std::chrono::milliseconds kDefaultFlushDeadline{5000};

  // Starts the writer thread; from here on write_line() only queues. One at a time.
  // Until the destructor, std::terminate (an uncaught exception) first gives the queued
  // lines the flush deadline too.
  explicit BackgroundLogWriter(std::size_t capacity_bytes = kDefaultCapacityBytes,
                               std::chrono::milliseconds flush_deadline = kDefaultFlushDeadline);
  // Writes what is queued, waiting at most the flush deadline; then lines are written by
  // their own thread again. Past the deadline (standard error stuck) the queued lines and
  // any later ones are given up, so that a stuck reader cannot hold up the exit.
  ~BackgroundLogWriter();
  BackgroundLogWriter(const BackgroundLogWriter&) = delete;
  BackgroundLogWriter& operator=(const BackgroundLogWriter&) = delete;

 private:
  std::chrono::milliseconds flush_deadline_;
};

}  // namespace whoisd::log
