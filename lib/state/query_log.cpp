#include "state/query_log.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

#include "common/escape.h"
#include "common/log.h"
#include "common/thread_setup.h"
#include "policy/source_key.h"
#include "state/multi_row_sql.h"
#include "state/query_count_table.h"
#include "state/query_counts.h"
#include "state/sqlite_statement.h"
#include "state/state_db.h"

namespace whoisd {
namespace {

constexpr std::array<std::string_view, 10> kOutcomeWords = {
    "found",   "no_match", "invalid", "help", "limit_crossed", "suspended", "too_many_connections",
    "timeout", "malformed_proxy_header", "error"};
static_assert(kOutcomeWords.size() == static_cast<std::size_t>(QueryOutcome::error) + 1, "a word per QueryOutcome");

constexpr int kQueryLogColumns = 7;
constexpr int kQueryCountsColumns = 6;

// OR FAIL (multi_row_sql.h). No row can fail a constraint: every NOT NULL column is
// bound a value.
constexpr std::string_view kInsertQueryLog =
    "INSERT OR FAIL INTO query_log (time_us, source, client, proxy_peer, query, outcome, answer_us)";
constexpr std::string_view kInsertQueryCounts =
    "INSERT OR FAIL INTO query_counts (hour, source, outcome, queries, first_us, last_us)";
constexpr std::string_view kAddToQueryCounts =
    " ON CONFLICT (hour, source, outcome) DO UPDATE SET queries = queries + excluded.queries, "
    "first_us = min(first_us, excluded.first_us), last_us = max(last_us, excluded.last_us)";

// Inserts items [0, count) with `group` (kRowsPerStatement rows) while that many are
// left, then with `single`. bind_row(statement, row, item) binds the item as the
// statement's row-th row; after_statement(first_item, rows) runs after each statement.
template <typename BindRow, typename AfterStatement>
void insert_rows(SqliteStatement& single, SqliteStatement& group, std::size_t count, BindRow bind_row,
                 AfterStatement after_statement) {
  for (std::size_t at = 0; at < count;) {
    const std::size_t rows = count - at >= kRowsPerStatement ? kRowsPerStatement : 1;
    SqliteStatement& statement = rows == kRowsPerStatement ? group : single;
    for (std::size_t r = 0; r < rows; ++r) bind_row(statement, r, at + r);
    statement.run();
    after_statement(at, rows);
    at += rows;
  }
}

}  // namespace

std::string_view to_string(QueryOutcome outcome) {
  auto i = static_cast<std::size_t>(outcome);
  return i < kOutcomeWords.size() ? kOutcomeWords[i] : std::string_view("error");
}

std::optional<QueryOutcome> parse_query_outcome(std::string_view word) {
  for (std::size_t i = 0; i < kOutcomeWords.size(); ++i)
    if (kOutcomeWords[i] == word) return static_cast<QueryOutcome>(i);
  return std::nullopt;
}

bool counted_by_limiter(QueryOutcome outcome) {
  switch (outcome) {
    case QueryOutcome::found:
    case QueryOutcome::no_match:
    case QueryOutcome::invalid:
    case QueryOutcome::help:
    case QueryOutcome::error:
      return true;
    case QueryOutcome::limit_crossed:
    case QueryOutcome::suspended:
    case QueryOutcome::too_many_connections:
    case QueryOutcome::timeout:
    case QueryOutcome::malformed_proxy_header:
      return false;
  }
  return false;
}

struct QueryLog::Writer {
  explicit Writer(const std::string& path)
      : db(StateDb::open(path, StateDb::Mode::read_write)),
        insert(db, rows_sql(kInsertQueryLog, kQueryLogColumns, 1, "")),
        insert_group(db, rows_sql(kInsertQueryLog, kQueryLogColumns, kRowsPerStatement, "")),
        add_counts(db, rows_sql(kInsertQueryCounts, kQueryCountsColumns, 1, kAddToQueryCounts)),
        add_counts_group(db,
                         rows_sql(kInsertQueryCounts, kQueryCountsColumns, kRowsPerStatement, kAddToQueryCounts)) {
    // The two indexes (time, source+time) take most of an insert; a page cache larger
    // than SQLite's 2 MB default keeps their hot pages in memory.
    db.exec("PRAGMA cache_size = -16384");
  }
  StateDb db;
  SqliteStatement insert;            // one row
  SqliteStatement insert_group;      // kRowsPerStatement rows
  SqliteStatement add_counts;        // one key
  SqliteStatement add_counts_group;  // kRowsPerStatement keys
  // The texts bound to a statement's rows, kept until it has run (bound without
  // SQLite's copy). The escaped queries are written into their buffers, which keep
  // their capacity; the addresses are IpAddress::to_string()'s strings, moved in.
  std::array<std::string, kRowsPerStatement> clients, proxy_peers, queries;
  std::vector<SourceKey> keys;       // the batch's source keys, one per entry
  std::vector<std::string> sources;  // the same as text (reused: no allocation per row)

  // The rows this writer committed above query_counts' N (query_counts.h), counted per
  // (hour, source, outcome): they cover exactly the ids (counted_after, counted_through].
  // Written to query_counts in one transaction per flush (flush_counts), which sets N =
  // counted_through: each leaf page of query_counts is then dirtied once a flush, not
  // once per batch (with most rows from different sources, nearly once per row).
  // Not `counting` (at the start, after a gap in the ids or a failed flush): the rows
  // written meanwhile are not counted here, and the next flush counts every row above
  // N from query_log instead (catch_up_query_counts).
  QueryCountTable counts;
  bool counting = false;
  std::int64_t counted_after = 0, counted_through = 0;
  std::optional<std::chrono::steady_clock::time_point> last_flush;  // none yet: the first pass flushes
};

QueryLog::QueryLog(std::string db_path, QueryLogOptions options)
    : db_path_(std::move(db_path)), options_(options), writer_(std::make_unique<Writer>(db_path_)) {
  if (options_.capacity == 0) options_.capacity = 1;
  if (options_.batch == 0) options_.batch = 1;
  // At most a key per row between two flushes, and a flush is due once counts_flush_rows
  // rows are counted or counts_flush_keys keys held (checked after each batch, so up to
  // a batch more).
  writer_->counts.reserve(
      std::min<std::size_t>(std::min(options_.counts_flush_rows, options_.counts_flush_keys) + options_.batch, 1u << 20));
}

QueryLog::~QueryLog() { stop(); }

void QueryLog::start() {
  std::lock_guard lock(mutex_);
  if (started_ || stopping_) return;
  started_ = true;
  thread_ = std::thread([this] {
    set_up_writer_thread("whoisd-querylog", options_.idle_priority, "query_log_priority");
    run();
  });
}

bool QueryLog::record(QueryLogEntry entry) noexcept {
  // A place in the bounded backlog first; given back when the entry is not queued.
  if (backlog_.fetch_add(1, std::memory_order_relaxed) >= options_.capacity || !queue_.push(std::move(entry))) {
    backlog_.fetch_sub(1, std::memory_order_relaxed);
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  std::uint64_t n = recorded_.fetch_add(1, std::memory_order_relaxed) + 1;
  // Wake the writer about once a batch; otherwise it wakes on its own within max_delay.
  // Without the mutex: a wake-up lost in the race with the writer going to sleep only
  // delays the batch to max_delay.
  if (n % options_.batch == 0) {
    wake_requested_.store(true, std::memory_order_release);
    wake_.notify_one();
  }
  return true;
}

void QueryLog::stop() {
  bool was_started;
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !started_) return;
    // After close() no record() is in progress and none will queue: the writer's last
    // pass sees every entry that record() accepted.
    queue_.close();
    stopping_ = true;
    was_started = started_;
  }
  wake_.notify_one();
  if (was_started) {
    if (thread_.joinable()) thread_.join();
    std::lock_guard lock(mutex_);
    started_ = false;
  } else {
    run();  // never started: write what was recorded, here
  }
}

QueryLog::Counters QueryLog::counters() const {
  Counters c;
  c.recorded = recorded_.load(std::memory_order_relaxed);
  c.written = written_.load(std::memory_order_relaxed);
  c.dropped = dropped_.load(std::memory_order_relaxed) + lost_.load(std::memory_order_relaxed);
  c.backlog = backlog_.load(std::memory_order_relaxed);
  c.write_errors = write_errors_.load(std::memory_order_relaxed);
  return c;
}

void QueryLog::run() {
  std::vector<QueryLogEntry> pending;
  std::vector<QueryLogEntry> batch;
  activity_since_ = std::chrono::steady_clock::now();
  for (;;) {
    bool stop;
    {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, options_.max_delay,
                     [&] { return stopping_ || wake_requested_.exchange(false, std::memory_order_acquire); });
      stop = stopping_;
    }
    // Everything queued by now (after stop, queue_ is closed: this pass is the last and
    // takes all). The lanes come one after the other; rows go in the order the queries
    // arrived, as when all threads shared one queue (a stable sort: one thread's entries
    // of the same microsecond keep their order).
    const auto pass_started = std::chrono::steady_clock::now();
    queue_.drain(pending, SIZE_MAX);
    std::stable_sort(pending.begin(), pending.end(),
                     [](const QueryLogEntry& a, const QueryLogEntry& b) { return a.time_us < b.time_us; });
    for (std::size_t at = 0; at < pending.size(); at += options_.batch) {
      std::size_t end = std::min(pending.size(), at + options_.batch);
      batch.assign(std::make_move_iterator(pending.begin() + static_cast<std::ptrdiff_t>(at)),
                   std::make_move_iterator(pending.begin() + static_cast<std::ptrdiff_t>(end)));
      write_batch(batch);
    }
    pending.clear();
    flush_counts(stop);
    report_drops(false);
    report_activity(std::chrono::steady_clock::now() - pass_started, stop);
    if (stop) break;
  }
  report_drops(true);
}

void QueryLog::report_activity(std::chrono::steady_clock::duration pass_time, bool final) {
  const auto now = std::chrono::steady_clock::now();
  if (log::level() > log::Level::debug) {
    // Kept current, so that the first line after a reload to debug covers its own period.
    activity_since_ = now;
    activity_written_ = written_.load(std::memory_order_relaxed);
    activity_passes_ = 0;
    activity_busy_ = {};
    return;
  }
  ++activity_passes_;
  activity_busy_ += pass_time;
  if (!final && now - activity_since_ < std::chrono::seconds(10)) return;
  const std::uint64_t written = written_.load(std::memory_order_relaxed);
  const auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  log::debug("query_log_activity")
      .kv("period_ms", ms(now - activity_since_))
      .kv("entries_written", written - activity_written_)
      .kv("passes", activity_passes_)
      .kv("busy_ms", ms(activity_busy_))
      .kv("backlog", backlog_.load(std::memory_order_relaxed));
  activity_since_ = now;
  activity_written_ = written;
  activity_passes_ = 0;
  activity_busy_ = {};
}

void QueryLog::write_batch(std::vector<QueryLogEntry>& batch) {
  if (batch.empty()) return;
  Writer& w = *writer_;
  // Before its first rows: what the previous writer counted only in memory (a kill -9)
  // is counted from query_log, so that this writer's counts start at N.
  if (!w.last_flush) flush_counts(true);
  // Source keys once for all attempts.
  w.keys.resize(batch.size());
  w.sources.resize(batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    w.keys[i] = source_key(batch[i].client, options_.ipv6_prefix);
    w.sources[i] = to_string(w.keys[i]);
  }
  // A failed transaction is rolled back whole, so it can simply be tried again: a
  // purge or an admin command may hold the file past the busy timeout, or the disk
  // may be briefly full. Meanwhile record() keeps filling the bounded backlog.
  constexpr int kAttempts = 3;
  for (int attempt = 1;; ++attempt) {
    try {
      // Only the rows: their counts go to query_counts at the next flush, with N
      // (query_counts.h). A kill -9 before it loses only the in-memory counts, which
      // the next writer's first flush counts again from the rows above N.
      StateDb::Transaction tx(w.db);
      std::int64_t first_id = 0;
      insert_rows(
          w.insert, w.insert_group, batch.size(),
          [&](SqliteStatement& insert, std::size_t r, std::size_t i) {
            const QueryLogEntry& e = batch[i];
            const int p = static_cast<int>(r) * kQueryLogColumns;
            w.clients[r] = e.client.to_string();
            escape_keep_utf8(e.query, 2048, w.queries[r]);
            insert.bind(p + 1, e.time_us).bind_static(p + 2, w.sources[i]).bind_static(p + 3, w.clients[r]);
            if (e.proxy_peer) {
              w.proxy_peers[r] = e.proxy_peer->to_string();
              insert.bind_static(p + 4, w.proxy_peers[r]);
            } else {
              insert.bind_null(p + 4);
            }
            insert.bind_static(p + 5, w.queries[r])
                .bind_static(p + 6, to_string(e.outcome))
                .bind(p + 7, static_cast<std::int64_t>(e.answer_us));
          },
          [&](std::size_t first_item, std::size_t rows) {
            // A statement's rows take the ids after the largest (SQLite's rowid rule for a
            // table whose ids have not reached the maximum; nothing else writes inside this
            // transaction), so its first row's id is its last one's less the others.
            // count_written checks the batch's ids against its count of rows as well.
            if (first_item == 0)
              first_id = sqlite3_last_insert_rowid(w.db.handle()) - static_cast<std::int64_t>(rows - 1);
          });
      const std::int64_t last_id = sqlite3_last_insert_rowid(w.db.handle());
      tx.commit();
      written_.fetch_add(batch.size(), std::memory_order_relaxed);
      backlog_.fetch_sub(batch.size(), std::memory_order_relaxed);
      count_written(batch, first_id, last_id);
      return;
    } catch (const StateDbError& e) {
      w.insert.reset();
      w.insert_group.reset();
      write_errors_.fetch_add(1, std::memory_order_relaxed);
      if (attempt < kAttempts) {
        log::warn("query_log_write_failed").kv("entries", batch.size()).kv("error", e.what()).kv("retry", attempt);
        std::this_thread::sleep_for(std::chrono::milliseconds(200 * attempt));  // the writer's own thread
        continue;
      }
      lost_.fetch_add(batch.size(), std::memory_order_relaxed);
      backlog_.fetch_sub(batch.size(), std::memory_order_relaxed);
      log::error("query_log_write_failed").kv("entries_lost", batch.size()).kv("error", e.what());
      return;
    }
  }
}

// After a batch's commit: its rows into the in-memory counts, when they continue the
// ids counted so far. Anything else (the first batch, rows another connection wrote in
// between, ids reused after a purge emptied the table's end) leaves the counts to the
// next flush's count from the rows (catch_up_query_counts), which is always right.
void QueryLog::count_written(std::vector<QueryLogEntry>& batch, std::int64_t first_id, std::int64_t last_id) {
  Writer& w = *writer_;
  if (!w.counting) return;
  if (first_id != w.counted_through + 1 || last_id - first_id + 1 != static_cast<std::int64_t>(batch.size())) {
    w.counting = false;
    w.counts.clear();
    return;
  }
  w.counted_through = last_id;
  for (std::size_t i = 0; i < batch.size(); ++i)
    w.counts.add(batch[i].time_us, w.keys[i], w.sources[i], batch[i].outcome);
  if (counts_full()) flush_counts(false);  // between the batches of a pass too
}

bool QueryLog::counts_full() const {
  const Writer& w = *writer_;
  return w.counting && (w.counted_through - w.counted_after >= static_cast<std::int64_t>(options_.counts_flush_rows) ||
                        w.counts.size() >= options_.counts_flush_keys);
}

// Called by the writer thread after each pass: writes the in-memory counts to
// query_counts every counts_flush_interval, or sooner when they count
// counts_flush_rows rows or hold counts_flush_keys keys (counts_full), and at stop
// (`final`). In one transaction: the counts, sorted by the table's key so that its
// pages are visited in order, each once, and N = counted_through.
// Before that it checks, in the same transaction, that N is still where the counts
// start and that no purge deleted rows above it (query_counts.h): otherwise, and when
// not counting, it counts every row above N from query_log instead. Either way the
// writer is counting from the new N afterwards. A failed flush forgets the counts (the
// rows are committed: the next flush counts them from query_log), so memory stays
// bounded however long the file refuses writes.
void QueryLog::flush_counts(bool final) {
  Writer& w = *writer_;
  auto now = std::chrono::steady_clock::now();
  bool due = final || !w.last_flush || now - *w.last_flush >= options_.counts_flush_interval ||
             counts_full();
  if (!due) return;
  w.last_flush = now;
  if (w.counting && w.counted_through == w.counted_after) return;  // nothing new
  try {
    StateDb::Transaction tx(w.db);
    bool from_memory = w.counting && query_counts_through_id(w.db) == w.counted_after;
    if (from_memory) {
      SqliteStatement purged(w.db, "SELECT 1 FROM meta WHERE key = ?");
      purged.bind(1, kQueryCountsPurgedAboveKey);
      from_memory = !purged.step();
    }
    std::int64_t through;
    if (from_memory) {
      w.counts.sort_in_table_order();
      insert_rows(
          w.add_counts, w.add_counts_group, w.counts.size(),
          [&](SqliteStatement& add, std::size_t r, std::size_t i) {
            const QueryCountTable::Row row = w.counts.row(i);
            const int p = static_cast<int>(r) * kQueryCountsColumns;
            add.bind(p + 1, row.hour)
                .bind_static(p + 2, row.source)
                .bind_static(p + 3, to_string(row.outcome))
                .bind(p + 4, row.queries)
                .bind(p + 5, row.first_us)
                .bind(p + 6, row.last_us);
          },
          [](std::size_t, std::size_t) {});
      through = w.counted_through;
      set_query_counts_through_id(w.db, through);
    } else {
      std::int64_t rows = catch_up_query_counts(w.db);
      through = query_counts_through_id(w.db);
      if (rows > 0) log::info("query_counts_caught_up").kv("query_log_rows", rows).kv("through_id", through);
    }
    tx.commit();
    w.counts.clear();
    w.counting = true;
    w.counted_after = w.counted_through = through;
  } catch (const StateDbError& e) {
    w.add_counts.reset();
    w.add_counts_group.reset();
    w.counts.clear();
    w.counting = false;
    log::warn("query_counts_flush_failed")
        .kv("error", e.what())
        .kv("then", "the next flush counts the rows from query_log");
  }
}

// Called by the writer thread after each pass: a drop counter that moved since the
// last pass means a run of drops is going on; one that stood still ends the run
// (and `final`, at stop, ends it too).
void QueryLog::report_drops(bool final) {
  std::uint64_t dropped = dropped_.load(std::memory_order_relaxed);
  if (dropped != dropped_seen_ && !dropping_) {
    dropping_ = true;
    dropped_at_run_start_ = dropped_seen_;
    log::warn("query_log_dropping")
        .kv("reason", "backlog full (the state database is not keeping up)")
        .kv("capacity", options_.capacity);
  }
  bool run_goes_on = dropped != dropped_seen_;
  dropped_seen_ = dropped;
  if (dropping_ && (final || !run_goes_on)) {
    dropping_ = false;
    log::warn("query_log_dropped").kv("entries", dropped - dropped_at_run_start_).kv("total_dropped", dropped);
  }
}

}  // namespace whoisd
