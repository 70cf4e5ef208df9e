// Keeps the limiter's state durable and lets operators act on the running daemon,
// from one background thread (never an event loop). Each round (at least once a
// second), in one transaction:
//   1. applies the lift/suspend commands whoisd-admin queued in admin_actions
//      (so they take effect within a second) and records in abuse_events what they
//      did: a suspension lifted, imposed or kept (a suspend never shortens one in
//      force), episodes forgotten; nothing for a lift that found nothing to do;
//   2. moves the limiter's events (suspension started, expired) into abuse_events;
//      every event that starts or ends a suspension (the limit's or an operator's)
//      also sets or clears the source's row of suspension_reasons (suspension_reasons.h);
//   3. appends the sources whose counts, episodes or suspensions changed to
//      source_journal, one row a round (source_journal.h), and writes those whose
//      suspension fields are or were set straight to source_state too, so that
//      whoisd-admin's views (suspensions, history), which read only source_state, are
//      as fresh as before;
//   4. every fold_every (a minute), or once the journal holds fold_entries entries,
//      folds the journal into source_state: each source written once, in key order.
// Appending a round is a few sequential pages where writing each changed source into
// source_state was a random leaf page per source: ~4.9 -> ~1.0 µs of CPU per query
// with 65,536 sources taking turns (bench_state_persister, bench/README.md).
// Every few minutes it also purges query_log and abuse_events rows older than the
// retention (and the suspension_reasons rows of suspensions that ended before it), in
// bounded batches so that no transaction holds the file for long. Folds and purges
// are scheduled on the monotonic clock, and a purge runs only on a wall clock that has
// kept pace with it for wall_clock_hold (common/wall_clock_watch.h): the cutoff is
// wall-clock time, and a wall clock stepped ahead, if only for seconds, would
// otherwise delete rows the retention keeps. So the first purge comes wall_clock_hold
// after start, and one after a step wall_clock_hold after the step's last jump.
//
// A kill -9 loses at most the round in progress (one interval): load() folds what the
// journal holds before reading source_state. A restart loses nothing: stop() writes a
// last round and folds.
//
// Daemon use (start, then shutdown in this order):
//   StateDb::open(state_db_path(dir), StateDb::Mode::create);      // creates or checks; throws StateDbError
//   Limiter limiter(config, clock);
//   StatePersister persister(state_db_path(dir), limiter, clock, {.retention = retention});
//   persister.load();     // before serving: counts, episodes, suspensions, queued admin commands
//   persister.start();
//   QueryLog log(...); log.start();
//   ... serve ...
//   (SIGTERM: stop accepting, finish answers in flight, stop the event loops)
//   log.stop();           // writes the queued query-log entries
//   persister.stop();     // writes a last round of state and events
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/clock.h"

namespace whoisd {

class Limiter;

struct StatePersisterOptions {
  std::chrono::milliseconds interval{500};       // between rounds; at most 1 s (the crash-loss bound)
  std::chrono::seconds retention{90 * 86'400};   // query_log and abuse_events rows older than this go
  std::chrono::seconds purge_every{300};         // between purge runs (monotonic time)
  // How long the wall clock must keep pace with the monotonic clock, from start and
  // after each step, before a purge may cut by it.
  std::chrono::seconds wall_clock_hold{600};
  std::size_t purge_batch = 10'000;              // rows per purge transaction
  std::chrono::seconds fold_every{60};           // between folds of the journal into source_state
  // ... or sooner, once the journal holds this many source entries, or its blobs plus
  // kFoldBytesPerEntry an entry (what the fold holds in memory) reach fold_bytes:
  // bounds the fold's memory and how long it holds the file. A source's entry is ~11
  // bytes with a few minutes in its window, up to ~4 KB with a day of them.
  std::uint64_t fold_entries = 262'144;
  std::uint64_t fold_bytes = 8 << 20;
  // The thread runs as SCHED_IDLE (common/thread_setup.h): only on CPU time nothing else
  // wants (the daemon; tests keep the default). Its only lock shared with the event
  // loops is a limiter shard's, held while copying that shard's changed sources.
  bool idle_priority = false;
};

struct StatePersisterStats {
  std::uint64_t rounds = 0;
  std::uint64_t round_errors = 0;        // failed rounds (each logged; the next round retries)
  std::uint64_t sources_written = 0;         // changed sources stored (journaled, or written after a failed round)
  std::uint64_t sources_written_direct = 0;  // ... of which also written straight to source_state
  std::uint64_t folds = 0;
  std::uint64_t events_written = 0;
  std::uint64_t admin_actions_applied = 0;
  std::uint64_t rows_purged = 0;
};

struct StateLoadSummary {
  std::uint64_t sources = 0;            // sources restored into the limiter
  std::uint64_t active_suspensions = 0;
  std::uint64_t admin_actions = 0;      // commands queued while no daemon ran, applied now
};

class StatePersister {
 public:
  // Opens its own connection to the state database (which must exist: StateDb::open
  // with Mode::create first). Throws StateDbError. `limiter` and `clock` must outlive it.
  StatePersister(std::string db_path, Limiter& limiter, const Clock& clock, StatePersisterOptions options = {});
  ~StatePersister();  // stop()
  StatePersister(const StatePersister&) = delete;
  StatePersister& operator=(const StatePersister&) = delete;

  // Folds the journal, restores the stored state into the limiter, then applies admin
  // commands queued while no daemon ran. Call once, before start() and before serving.
  // Throws StateDbError (also for a damaged journal record).
  StateLoadSummary load();
  void start();  // the background thread
  // A last round (state, events), then ends the thread. Idempotent.
  void stop();
  // One round now, on the calling thread (tests; and what the thread runs). Not while started.
  // Folds when due (fold_every, fold_entries). Throws StateDbError.
  void round();
  // Purges rows older than the retention now, in batches, whatever the wall clock did;
  // returns rows removed.
  std::uint64_t purge_now();
  // What the thread does after each round (tests; not while started): reads the
  // clocks (a wall-clock step is logged as wall_clock_step), and when a purge is due
  // and the wall clock trusted, purges a few batches. Logs StateDbError, never throws.
  void purge_round();

  StatePersisterStats stats() const;

 private:
  struct Impl;
  void run();
  // round_and_fold(), and at log level debug a state_round line saying what it stored.
  void logged_round(bool fold_now);
  void round_and_fold(bool fold_now);
  std::unique_ptr<Impl> impl_;
  Limiter& limiter_;
  const Clock& clock_;
  StatePersisterOptions options_;

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool started_ = false;
  std::thread thread_;
};

}  // namespace whoisd
