#include "common/log_output.h"

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>

#include "common/log.h"
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
  std::uint64_t dropped_unreported = 0;
  std::atomic<std::uint64_t> dropped_total{0};
  std::thread thread;
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
  if (o.mode != Mode::given_up) ++o.dropped_unreported;
  o.dropped_total.fetch_add(1, std::memory_order_relaxed);
}

void run_writer(Output& o) {
  name_this_thread("whoisd-log");
  std::string batch;
  batch.reserve(o.capacity);
  std::unique_lock lock(o.mu);
  for (;;) {
    o.work.wait(lock, [&] { return !o.queued.empty() || o.dropped_unreported > 0 || o.stopping; });
    if (o.queued.empty() && o.dropped_unreported == 0) break;  // stopping, and all written
    batch.swap(o.queued);
    const std::uint64_t dropped = std::exchange(o.dropped_unreported, 0);
    o.writing = true;
    lock.unlock();
    (void)write_lines_to_stderr(batch, false);
    batch.clear();
    // Queued like any line, so that it comes after the ones written before the drop.
    if (dropped > 0)
      log::warn("log_lines_dropped")
          .kv("count", dropped)
          .kv("total", o.dropped_total.load(std::memory_order_relaxed))
          .kv("reason", "standard error was not read fast enough");
    lock.lock();
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
      o.drained.wait_for(lock, o.flush_deadline, [&] { return o.queued.empty() && !o.writing; });
  }
  if (previous) previous();
  std::abort();
}

}  // namespace

void write_line(std::string&& line) {
  Output& o = output();
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
  }
  (void)write_lines_to_stderr(line, false);
}

std::uint64_t lines_dropped() { return output().dropped_total.load(std::memory_order_relaxed); }

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
  if (o.drained.wait_for(lock, flush_deadline_, [&] { return o.queued.empty() && !o.writing; })) {
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
