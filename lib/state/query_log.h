// The query log the registry must keep (SPEC §4, Anexo 2.5): every query with its
// time, source, proxy peer, the text as received (escaped), the outcome and the
// answer time. Event-loop threads call record(); a background thread writes the
// entries to the state database in batches, one transaction each, and adds their
// counts to query_counts once a minute (state/query_counts.h).
//
// record() never blocks: no mutex, no system call. It moves the entry into the calling
// thread's own lane of a lock-free hand-off (state/handoff_queue.h), so an event loop
// never waits for the writer thread, which can therefore run at the lowest scheduling
// priority (options.idle_priority) without stalling the loops. The backlog is bounded:
// when it is full (the disk is slow or stuck, or the writer gets no CPU) the entry is
// dropped and counted; the first drop of a run logs a warning and the end of the run
// logs how many were dropped — never silent. The daemon keeps answering. Each pass of
// the writer takes everything queued and writes it in the order the queries arrived
// (time_us), whichever thread recorded them.
//
// Daemon use:
//   QueryLog log(state_db_path(dir), {.ipv6_prefix = config.limits.ipv6_prefix});  // throws StateDbError
//   log.start();
//   ... on any event-loop thread, once per query when its answer is written:
//   log.record({.time_us = received_us, .client = client, .proxy_peer = peer,
//               .query = std::string(line), .outcome = QueryOutcome::found, .answer_us = elapsed});
//   ... metrics: log.counters()
//   ... at SIGTERM, after the event loops have stopped: log.stop();   // writes the backlog, joins
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/address.h"
#include "state/handoff_queue.h"

namespace whoisd {

enum class QueryOutcome : std::uint8_t {
  found,                 // a published domain's answer
  no_match,              // "<domain> - no match"
  invalid,               // "Invalid query: ..."
  help,                  // the help text
  limit_crossed,         // the query that crossed the limit: refused, suspension starts
  suspended,             // refused while suspended, no lookup
  too_many_connections,  // refused at accept: the source has too many open connections
  timeout,               // the client sent no complete line in time
  malformed_proxy_header,  // a trusted proxy's PROXY header did not parse: answered "Invalid
                           // query", refused before the limiter (no end client to charge)
  error,                 // anything else that ended the connection without an answer
};
// "found", "no_match", "invalid", "help", "limit_crossed", "suspended",
// "too_many_connections", "timeout", "malformed_proxy_header", "error" (the words
// stored in the database).
std::string_view to_string(QueryOutcome outcome);
std::optional<QueryOutcome> parse_query_outcome(std::string_view word);

// Whether the limiter counted the query a row of this outcome logs, so that reports
// (whoisd-admin top, history) show the figure its limit compares (policy/limiter.h,
// "What counts"): the lines it let through, answered (found, no_match, invalid, help)
// or failed after it counted them (error: QueryHandler::answer calls Limiter::check
// before anything else). Not counted: limit_crossed and suspended (refused),
// too_many_connections and timeout (no line reached the limiter), and
// malformed_proxy_header (refused before the limiter). The log cannot tell one rarer
// case apart, counted here as the limiter would count its kind: the queries of an
// exempt source (the limiter counts none).
bool counted_by_limiter(QueryOutcome outcome);

struct QueryLogEntry {
  std::int64_t time_us = 0;              // when the query arrived, µs since the Unix epoch (unix_now_us())
  IpAddress client;                      // the end client (from the PROXY header when proxied)
  std::optional<IpAddress> proxy_peer;   // the trusted proxy that connected, when proxied
  std::string query;                     // the bytes as received, unescaped; the writer escapes them
  QueryOutcome outcome = QueryOutcome::error;
  std::uint32_t answer_us = 0;           // from arrival of the line to the answer handed to the socket
};

struct QueryLogOptions {
  std::size_t capacity = 100'000;                 // entries waiting at most; beyond this they are dropped
  std::size_t batch = 4'096;                      // entries per transaction at most
  std::chrono::milliseconds max_delay{250};       // an entry waits at most about this long to be written
  int ipv6_prefix = 64;                           // for the stored source key (as the limiter groups)
  // The writer thread runs as SCHED_IDLE: only on CPU time nothing else wants, and
  // preempted at once when an event loop wakes (the daemon; tests keep the default).
  bool idle_priority = false;
  // The written rows' counts per (hour, source, outcome) are kept in memory and added to
  // query_counts (state/query_counts.h) this often, sooner when they count this many
  // rows, and at stop(): one transaction then instead of an upsert per key in every
  // batch. The row bound bounds the rows that whoisd-admin top reads as rows and those
  // a restarted writer counts again after a kill -9 (about 0.2 s each per 200,000,
  // bench/README.md) when queries come faster than 200,000 a minute.
  std::chrono::milliseconds counts_flush_interval{60'000};
  std::size_t counts_flush_rows = 200'000;
  // ... and sooner again once they hold this many keys (hour, source, outcome): the
  // bound of the table's memory (about 70 bytes a key, reserved at start,
  // query_count_table.h). With sources that come back, 200,000 rows make far fewer
  // keys and this bound is not reached (a lower row bound would flush the same keys
  // more often); with a million sources seen once each (bench scenario 3), every row
  // is a key, and a table for 200,000 of them (13 MB) was among what kept whoisd near
  // its 100 MB budget.
  std::size_t counts_flush_keys = 100'000;
};

class QueryLog {
 public:
  // Opens its own connection to an existing state database (the daemon creates it
  // first with StateDb::open(path, Mode::create)). Throws StateDbError.
  explicit QueryLog(std::string db_path, QueryLogOptions options = {});
  ~QueryLog();  // stop()
  QueryLog(const QueryLog&) = delete;
  QueryLog& operator=(const QueryLog&) = delete;

  void start();  // starts the writer thread
  // Thread-safe; never waits (no lock, no system call but a rare wake-up of the writer).
  // false when the entry was dropped (backlog full, stopped, out of memory); the drop is
  // counted.
  bool record(QueryLogEntry entry) noexcept;
  // Writes everything queued, then ends the writer thread. Idempotent. Later record()s are dropped.
  void stop();

  struct Counters {
    std::uint64_t recorded = 0;  // accepted into the backlog
    std::uint64_t written = 0;   // committed to the database
    std::uint64_t dropped = 0;   // refused (backlog full, stopped) or lost to a failed write
    std::uint64_t backlog = 0;   // waiting now
    std::uint64_t write_errors = 0;  // failed batch transactions (each logged; retried twice, then lost)
  };
  Counters counters() const;

 private:
  void run();
  void write_batch(std::vector<QueryLogEntry>& batch);
  void count_written(std::vector<QueryLogEntry>& batch, std::int64_t first_id, std::int64_t last_id);
  void flush_counts(bool final);
  bool counts_full() const;
  void report_drops(bool final);
  // At log level debug: what the writer did over the last 10 s (entries, passes, time
  // spent writing), one line, so an operator can see whether the disk keeps up.
  void report_activity(std::chrono::steady_clock::duration pass_time, bool final);

  struct Writer;  // the connection and prepared statements, used only by the writer thread
  std::string db_path_;
  QueryLogOptions options_;
  std::unique_ptr<Writer> writer_;

  HandoffQueue<QueryLogEntry> queue_;  // closed by stop(): later record()s are dropped
  // The writer's sleep: only the writer and stop() take the mutex, never record().
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<bool> wake_requested_{false};  // a batch is ready (set by record(), without the mutex)
  bool stopping_ = false;
  bool started_ = false;
  // Drops are logged by the writer thread (record() does no I/O): once when a run of
  // drops starts, once with its total when it ends.
  bool dropping_ = false;
  std::uint64_t dropped_at_run_start_ = 0;
  std::uint64_t dropped_seen_ = 0;
  // report_activity's period (the writer thread's alone).
  std::chrono::steady_clock::time_point activity_since_{};
  std::uint64_t activity_written_ = 0;
  std::uint64_t activity_passes_ = 0;
  std::chrono::steady_clock::duration activity_busy_{};
  std::thread thread_;

  // Accepted and not yet written or lost: the queue plus the batch being written.
  // Bounded by capacity (the writer's batch counts too, or memory would reach 2x):
  // record() reserves its place here first and gives it back when it drops.
  std::atomic<std::uint64_t> backlog_{0};
  std::atomic<std::uint64_t> recorded_{0};
  std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> lost_{0};  // accepted, then lost to a failed write (part of dropped)
  std::atomic<std::uint64_t> write_errors_{0};
};

}  // namespace whoisd
