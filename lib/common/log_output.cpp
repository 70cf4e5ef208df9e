#include "common/log_output.h"

#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>

#include "common/log.h"
#include "common/signal_safe_clock.h"
#include "common/stderr_lines.h"
#include "common/thread_setup.h"

namespace whoisd::log {
namespace {

enum class Mode {
  direct,    // the thread that logs writes the line
  queued,    // a BackgroundLogWriter's thread writes it
  given_up,  // the writer stayed stuck past the flush deadline: lines are dropped
};

struct Output {
  std::mutex mu;
  std::condition_variable work;     // the writer thread: lines queued, or stop
  std::condition_variable drained;  // the flush: nothing queued and nothing being written
  Mode mode = Mode::direct;
  std::string queued;
  std::size_t capacity = 0;
  bool writing = false;
  bool stopping = false;
  bool thread_running = false;
  // Dropped since the last log_lines_dropped report, by cause: the buffer was full, or
  // a write failed (with the last write's errno).
  std::uint64_t full_unreported = 0;
  std::uint64_t failed_unreported = 0;
  int failed_error = 0;
  // The last write failed: reports wait for one that succeeds (see report_due).
  bool output_failing = false;
  // The last write cut a line: the next one first ends it.
  bool line_cut = false;
  std::atomic<std::uint64_t> dropped_total{0};
  std::thread thread;
  // For a fatal signal's handler, which cannot wait on `drained`: a batch is being
  // written outside the lock, and by which thread (its kernel thread id).
  std::atomic<bool> batch_in_write{false};
  std::atomic<pid_t> writer_tid{0};
  std::chrono::milliseconds flush_deadline{0};
  std::terminate_handler previous_terminate = nullptr;  // replaced while a writer runs
};

// Never destroyed: a writer thread given up at exit may still be blocked in write(2)
// while the process's static objects are destroyed, and wakes to use this.
Output& output() {
  static Output* const o = new Output;
  return *o;
}

void drop(Output& o) {
  // Given up, nothing will report them (the report would be dropped in turn).
  if (o.mode != Mode::given_up) ++o.full_unreported;
  o.dropped_total.fetch_add(1, std::memory_order_relaxed);
}

// After a write, with the lock held: the lines it lost are dropped lines too.
void account(Output& o, const LinesWritten& written) {
  if (written.cut) o.line_cut = true;
  o.output_failing = written.error != 0;
  if (written.lost == 0) return;
  if (o.mode != Mode::given_up) {
    o.failed_unreported += written.lost;
    o.failed_error = written.error;
  }
  o.dropped_total.fetch_add(written.lost, std::memory_order_relaxed);
}

// What is reported when: drops are reported by the writer thread, in a
// log_lines_dropped line queued after a write that succeeded, never after one that
// failed. With standard error broken for good (a reader gone, a disk full), a report
// would fail in turn, be counted, and call for another report, for ever; so while
// writes fail, drops are only counted (the metric still rises) and wait for the first
// write that succeeds, which the next logged line makes. A report that fails is
// counted among the drops the next one reports. Given up at the stop, none is made.
bool report_due(const Output& o) {
  return o.mode == Mode::queued && !o.output_failing && (o.full_unreported > 0 || o.failed_unreported > 0);
}

// Nothing queued, being written or due to be reported: what a flush waits for.
bool flushed(const Output& o) { return o.queued.empty() && !o.writing && !report_due(o); }

void report_drops(Output& o, std::unique_lock<std::mutex>& lock) {
  const std::uint64_t full = std::exchange(o.full_unreported, 0);
  const std::uint64_t failed = std::exchange(o.failed_unreported, 0);
  const int error = o.failed_error;
  lock.unlock();
  // Queued like any line, so that it comes after the ones written before the drop.
  const auto total = [&] { return o.dropped_total.load(std::memory_order_relaxed); };
  if (full > 0)
    log::warn("log_lines_dropped")
        .kv("count", full)
        .kv("total", total())
        .kv("reason", "standard error was not read fast enough");
  if (failed > 0)
    log::warn("log_lines_dropped")
        .kv("count", failed)
        .kv("total", total())
        .kv("reason", "writing to standard error failed")
        .kv("error", std::strerror(error));
  lock.lock();
}

void run_writer(Output& o) {
  set_up_thread("whoisd-log");
  // A SIGABRT sent to the process (systemd's watchdog, kill -ABRT) goes to another
  // thread: taken here, inside a write, the batch being written would be cut off with
  // nobody to finish it (the fatal signal handler, common/fatal_signal.h, waits for that
  // write when another thread takes the signal). abort() unblocks it, should it come from here.
  sigset_t abort_signal;
  sigemptyset(&abort_signal);
  sigaddset(&abort_signal, SIGABRT);
  pthread_sigmask(SIG_BLOCK, &abort_signal, nullptr);
  o.writer_tid.store(kernel_thread_id(), std::memory_order_relaxed);
  std::string batch;
  batch.reserve(o.capacity);
  std::unique_lock lock(o.mu);
  for (;;) {
    o.work.wait(lock, [&] { return !o.queued.empty() || report_due(o) || o.stopping; });
    if (o.queued.empty() && !report_due(o)) break;  // stopping, and all written
    batch.swap(o.queued);
    o.writing = true;  // until the batch is written and its report queued: the flush waits for both
    if (!batch.empty()) {  // else woken for a report alone
      const bool after_cut = std::exchange(o.line_cut, false);
      o.batch_in_write.store(true, std::memory_order_release);
      lock.unlock();
      const LinesWritten written = write_lines_to_stderr(batch, after_cut);
      o.batch_in_write.store(false, std::memory_order_release);
      batch.clear();
      lock.lock();
      account(o, written);
    }
    if (report_due(o)) report_drops(o, lock);
    o.writing = false;
    if (o.queued.empty()) o.drained.notify_all();
  }
  // Given up on earlier, this write has returned after all: standard error moves again.
  if (o.mode == Mode::given_up) o.mode = Mode::direct;
  o.thread_running = false;
}

// A fatal error (an uncaught exception: std::terminate) ends the process without the
// writer's destructor, and the lines still queued went with it, often the very ones
// that say what went wrong; written by the thread that logged, they were out before.
// They get the flush deadline first, as at a stop; then the handler that was there
// before (the runtime's names the exception, after them).
[[noreturn]] void flush_then_terminate() {
  Output& o = output();
  std::terminate_handler previous = nullptr;
  {
    std::unique_lock lock(o.mu);
    previous = o.previous_terminate;
    // The writer thread itself cannot wait for its own write.
    if (o.mode == Mode::queued && o.thread.get_id() != std::this_thread::get_id())
      o.drained.wait_for(lock, o.flush_deadline, [&] { return flushed(o); });
  }
  if (previous) previous();
  std::abort();
}

void sleep_a_millisecond() {
  const timespec ms{0, 1'000'000};
  ::nanosleep(&ms, nullptr);
}

}  // namespace

QueuedAtCrash take_queued_lines_at_crash(std::int64_t lock_deadline_ns, std::int64_t batch_deadline_ns) {
  Output& o = output();
  QueuedAtCrash result;
  // try_lock: async-signal-safe in practice (an atomic exchange on glibc); the lock may
  // be held for ever (by this very thread, interrupted inside write_line), so never lock().
  while (!o.mu.try_lock()) {
    if (monotonic_ns() >= lock_deadline_ns) {
      result.unreadable = true;
      return result;
    }
    sleep_a_millisecond();
  }
  // Kept: the process ends with it held (see the header).
  const pid_t self = kernel_thread_id();
  if (o.writer_tid.load(std::memory_order_relaxed) != self)
    while (o.batch_in_write.load(std::memory_order_acquire) && monotonic_ns() < batch_deadline_ns)
      sleep_a_millisecond();
  result.lines = o.queued;  // empty when lines are written directly, or given up
  result.after_cut = o.line_cut;
  return result;
}

void write_line(std::string&& line) {
  Output& o = output();
  bool after_cut = false;
  bool was_failing = false;
  {
    std::unique_lock lock(o.mu);
    if (o.mode == Mode::given_up) {
      drop(o);
      return;
    }
    if (o.mode == Mode::queued) {
      if (o.queued.size() + line.size() > o.capacity) {
        drop(o);
        return;
      }
      const bool was_empty = o.queued.empty();
      o.queued += line;  // within the capacity reserved at the start: no allocation
      lock.unlock();
      if (was_empty) o.work.notify_one();
      return;
    }
    after_cut = std::exchange(o.line_cut, false);
    was_failing = o.output_failing;
  }
  // Written by this thread (no writer thread: at the start, at the stop). Lines it loses
  // are counted, and reported by a writer thread, should one start and write.
  const LinesWritten written = write_lines_to_stderr(line, after_cut);
  if (written.error != 0 || written.cut || was_failing) {
    std::lock_guard lock(o.mu);
    account(o, written);
  }
}

std::uint64_t lines_dropped() { return output().dropped_total.load(std::memory_order_relaxed); }

bool wait_until_written(std::chrono::milliseconds at_most) {
  Output& o = output();
  std::unique_lock lock(o.mu);
  if (o.mode != Mode::queued || o.thread.get_id() == std::this_thread::get_id()) return flushed(o);
  return o.drained.wait_for(lock, at_most, [&] { return flushed(o); });
}

BackgroundLogWriter::BackgroundLogWriter(std::size_t capacity_bytes, std::chrono::milliseconds flush_deadline)
    : flush_deadline_(flush_deadline) {
  Output& o = output();
  std::lock_guard lock(o.mu);
  if (o.mode != Mode::direct || o.thread_running)
    throw std::logic_error("a background log writer is already running (or still stuck in a write)");
  o.capacity = capacity_bytes;
  o.queued.clear();
  o.queued.reserve(capacity_bytes);
  o.stopping = false;
  o.thread_running = true;
  o.thread = std::thread(run_writer, std::ref(o));
  o.mode = Mode::queued;
  o.flush_deadline = flush_deadline;
  o.previous_terminate = std::set_terminate(flush_then_terminate);
}

BackgroundLogWriter::~BackgroundLogWriter() {
  Output& o = output();
  std::unique_lock lock(o.mu);
  // First, so that a failure below (the lock is held) does not wait on it.
  std::set_terminate(o.previous_terminate);
  o.stopping = true;
  o.work.notify_one();
  if (o.drained.wait_for(lock, flush_deadline_, [&] { return flushed(o); })) {
    // All written: the thread ends at once.
    o.mode = Mode::direct;
    std::thread done = std::move(o.thread);
    lock.unlock();
    done.join();
    return;
  }
  // Standard error has not moved for the whole deadline: give the queued lines up
  // rather than hold the exit (the thread ends with the process, or when its write returns).
  o.mode = Mode::given_up;
  for (char c : o.queued)
    if (c == '\n') drop(o);
  o.queued.clear();
  o.thread.detach();
}

}  // namespace whoisd::log
