#include "state/state_reports.h"

#include <algorithm>
#include <array>
#include <functional>
#include <optional>
#include <string_view>

#include "policy/limiter.h"
#include "state/query_counts.h"
#include "state/query_log.h"
#include "state/sqlite_statement.h"

namespace whoisd {

namespace {

// A read transaction: the reads inside it see one state of the file, whatever the
// daemon commits meanwhile (WAL). Ended (committed: nothing was written) when destroyed.
class ReadSnapshot {
 public:
  explicit ReadSnapshot(StateDb& db) : db_(db) { db_.exec("BEGIN"); }
  ~ReadSnapshot() { sqlite3_exec(db_.handle(), "COMMIT", nullptr, nullptr, nullptr); }
  ReadSnapshot(const ReadSnapshot&) = delete;
  ReadSnapshot& operator=(const ReadSnapshot&) = delete;

 private:
  StateDb& db_;
};

constexpr std::size_t kQueryOutcomeCount = static_cast<std::size_t>(QueryOutcome::error) + 1;

// One source's tally while top_sources merges the summary's hours and the rows.
// Both sources of it count rows by outcome (query_counts keeps the outcome), so one
// rule, counted_by_limiter, makes the figure whichever the rows came from.
struct Tally {
  std::string source;
  std::int64_t rows = 0, queries = 0, first_us = 0, last_us = 0;  // queries: counted_by_limiter
  std::array<std::int64_t, kQueryOutcomeCount> by_outcome{};    // the QueryOutcome words
  std::vector<std::pair<std::string, std::int64_t>> other;     // any other word found in the file (not counted)

  void add(std::string_view outcome, std::int64_t n, std::int64_t first, std::int64_t last) {
    first_us = rows ? std::min(first_us, first) : first;
    last_us = rows ? std::max(last_us, last) : last;
    rows += n;
    if (auto known = parse_query_outcome(outcome)) {
      by_outcome[static_cast<std::size_t>(*known)] += n;
      if (counted_by_limiter(*known)) queries += n;
      return;
    }
    for (auto& [word, count] : other)
      if (word == outcome) {
        count += n;
        return;
      }
    other.emplace_back(outcome, n);
  }
};

// The tallies by source: one flat open-addressing table of (hash, index) over a
// vector of tallies, fed in groups of rows. A 30-day period is millions of summary
// rows over ~100,000 sources, whose slots and tallies are mostly not in the CPU's
// caches: one row at a time, two memory misses a row were most of top's time
// (bench_query_log --top). A group's slots, then its tallies, are prefetched first,
// so that the misses of a group overlap.
class SourceTallies {
 public:
  SourceTallies() : slots_(1 << 16) { group_.resize(kGroup); }

  void add(std::string_view source, std::string_view outcome, std::int64_t n, std::int64_t first, std::int64_t last) {
    Row& row = group_[grouped_++];
    row.source = source;
    row.outcome = outcome;
    row.n = n;
    row.first = first;
    row.last = last;
    if (grouped_ == kGroup) flush();
  }
  std::vector<Tally>& all() {
    flush();
    return tallies_;
  }

 private:
  static constexpr std::size_t kGroup = 32;
  struct Row {
    std::string source, outcome;  // assigned in place: their buffers are reused
    std::int64_t n = 0, first = 0, last = 0;
    std::uint64_t hash = 0;
  };
  struct Slot {
    std::uint64_t hash = 0;  // 0: empty
    std::uint32_t index = 0;
  };

  void flush() {
    std::size_t mask = slots_.size() - 1;
    for (std::size_t i = 0; i < grouped_; ++i) {
      group_[i].hash = std::hash<std::string_view>()(group_[i].source) | 1;
      __builtin_prefetch(&slots_[group_[i].hash & mask]);
    }
    for (std::size_t i = 0; i < grouped_; ++i) {
      const Slot& slot = slots_[group_[i].hash & mask];
      if (slot.hash == group_[i].hash) __builtin_prefetch(&tallies_[slot.index]);
    }
    for (std::size_t i = 0; i < grouped_; ++i) {
      Row& row = group_[i];
      at(row.source, row.hash).add(row.outcome, row.n, row.first, row.last);
    }
    grouped_ = 0;
  }

  Tally& at(std::string_view source, std::uint64_t hash) {
    std::size_t mask = slots_.size() - 1;
    for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
      Slot& slot = slots_[i];
      if (slot.hash == 0) {
        slot = {hash, static_cast<std::uint32_t>(tallies_.size())};
        tallies_.emplace_back().source = source;
        std::size_t index = slot.index;
        if (tallies_.size() * 2 > slots_.size()) grow();
        return tallies_[index];
      }
      if (slot.hash == hash && tallies_[slot.index].source == source) return tallies_[slot.index];
    }
  }

  void grow() {
    std::vector<Slot> bigger(slots_.size() * 2);
    std::size_t mask = bigger.size() - 1;
    for (const Slot& slot : slots_) {
      if (slot.hash == 0) continue;
      std::size_t i = slot.hash & mask;
      while (bigger[i].hash != 0) i = (i + 1) & mask;
      bigger[i] = slot;
    }
    slots_.swap(bigger);
  }

  std::vector<Slot> slots_;
  std::vector<Tally> tallies_;
  std::vector<Row> group_;
  std::size_t grouped_ = 0;
};

// Most frequent first, ties by word.
void sort_most_first(std::vector<std::pair<std::string, std::int64_t>>& outcomes) {
  std::sort(outcomes.begin(), outcomes.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
}

}  // namespace

std::vector<TopSource> top_sources(StateDb& db, std::int64_t since_us, std::size_t limit) {
  // The period [since_us, now) is the rows of its first, partial hour (since_us is
  // rarely on the hour), read from query_log through the time index, and the whole
  // hours after it, read from query_counts (state_schema.cpp), which counts their rows
  // up to id N, plus their rows above N (the writer's last minute, query_counts.h). All
  // in one read transaction, merged per source here. The cost is
  // the partial hour's rows plus the period's (hour, source, outcome) counts, not the
  // period's rows: how much less depends on how often a source comes back within an
  // hour. On a 10,000,000-row 30-day log from 100,000 Zipf-distributed sources (a
  // long tail: 4.9 million counts) 30 days take 1.4 s instead of 4.7 s, 24 hours
  // 0.06 s instead of 0.29 s (bench/README.md, bench_query_log --top).
  std::int64_t first_whole_hour = query_count_hour(since_us);
  if (first_whole_hour * kQueryCountHourUs < since_us) ++first_whole_hour;
  const std::int64_t whole_hours_from_us = first_whole_hour * kQueryCountHourUs;

  SourceTallies tallies;
  {
    ReadSnapshot snapshot(db);
    SqliteStatement partial_hour(db,
                                 "SELECT source, outcome, count(*), min(time_us), max(time_us) "
                                 "FROM query_log INDEXED BY query_log_time WHERE time_us >= ?1 AND time_us < ?2 "
                                 "GROUP BY source, outcome");
    partial_hour.bind(1, since_us).bind(2, whole_hours_from_us);
    while (partial_hour.step())
      tallies.add(partial_hour.text_view(0), partial_hour.text_view(1), partial_hour.int64(2), partial_hour.int64(3),
                  partial_hour.int64(4));
    SqliteStatement hours(db, "SELECT source, outcome, queries, first_us, last_us FROM query_counts WHERE hour >= ?");
    hours.bind(1, first_whole_hour);
    while (hours.step())
      tallies.add(hours.text_view(0), hours.text_view(1), hours.int64(2), hours.int64(3), hours.int64(4));
    // query_counts counts the rows up to id N; the writer's last minute or so above N
    // is read as rows, by rowid (NOT INDEXED still allows the rowid range). Only those
    // in the whole hours: the partial hour's were all read above.
    SqliteStatement uncounted(db,
                              "SELECT source, outcome, count(*), min(time_us), max(time_us) "
                              "FROM query_log NOT INDEXED WHERE id > ?1 AND time_us >= ?2 GROUP BY source, outcome");
    uncounted.bind(1, query_counts_through_id(db)).bind(2, whole_hours_from_us);
    while (uncounted.step())
      tallies.add(uncounted.text_view(0), uncounted.text_view(1), uncounted.int64(2), uncounted.int64(3),
                  uncounted.int64(4));
  }

  // Most queries first, then most rows the limiter did not count (a source refused
  // all day is worth seeing), ties by source; only the first `limit` are sorted.
  std::vector<Tally*> ranked;
  ranked.reserve(tallies.all().size());
  for (Tally& t : tallies.all()) ranked.push_back(&t);
  std::size_t n = std::min(limit, ranked.size());
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(n), ranked.end(),
                    [](const Tally* a, const Tally* b) {
                      if (a->queries != b->queries) return a->queries > b->queries;
                      if (a->rows != b->rows) return a->rows > b->rows;
                      return a->source < b->source;
                    });

  std::vector<TopSource> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    Tally& tally = *ranked[i];
    TopSource t;
    t.source = std::move(tally.source);
    t.queries = tally.queries;
    t.not_counted = tally.rows - tally.queries;
    t.first_us = tally.first_us;
    t.last_us = tally.last_us;
    for (std::size_t o = 0; o < tally.by_outcome.size(); ++o)
      if (tally.by_outcome[o] > 0) t.outcomes.emplace_back(to_string(static_cast<QueryOutcome>(o)), tally.by_outcome[o]);
    for (auto& other : tally.other) t.outcomes.push_back(std::move(other));
    sort_most_first(t.outcomes);
    out.push_back(std::move(t));
  }
  return out;
}

SourceHistory source_history(StateDb& db, const std::string& source, std::int64_t since_us, std::size_t limit,
                             UnixSeconds now) {
  SourceHistory h;
  auto lim = static_cast<std::int64_t>(limit);
  SqliteStatement queries(db,
                          "SELECT time_us, client, proxy_peer, query, outcome, answer_us FROM query_log "
                          "WHERE source = ? AND time_us >= ? ORDER BY time_us DESC, id DESC LIMIT ?");
  queries.bind(1, source).bind(2, since_us).bind(3, lim);
  while (queries.step())
    h.queries.push_back({queries.int64(0), queries.text(1), queries.text(2), queries.text(3), queries.text(4),
                         queries.int64(5)});
  SqliteStatement count(db,
                        "SELECT outcome, count(*) FROM query_log WHERE source = ? AND time_us >= ? GROUP BY outcome");
  count.bind(1, source).bind(2, since_us);
  while (count.step()) {
    const std::int64_t rows = count.int64(1);
    h.outcomes.emplace_back(count.text(0), rows);
    h.rows_total += rows;
    if (auto known = parse_query_outcome(h.outcomes.back().first); known && counted_by_limiter(*known))
      h.queries_total += rows;
  }
  sort_most_first(h.outcomes);
  SqliteStatement events(db,
                         "SELECT time, source, kind, reason, operator, episode, until FROM abuse_events "
                         "WHERE source = ? AND time >= ? ORDER BY time DESC, id DESC LIMIT ?");
  events.bind(1, source).bind(2, since_us / 1'000'000).bind(3, lim);
  while (events.step())
    h.events.push_back({events.int64(0), events.text(1), events.text(2), events.text(3), events.text(4),
                        events.int64(5), events.int64(6)});
  SqliteStatement state(db, "SELECT suspended_until, episodes, flags FROM source_state WHERE source = ?");
  state.bind(1, source);
  if (state.step()) {
    const auto flags = static_cast<std::uint8_t>(state.int64(2));
    if (SourceState::suspension_in_force_at(state.int64(0), flags, now)) {
      h.suspended_until = state.int64(0);
      h.manual = (flags & SourceState::kManualSuspension) != 0;
    }
    h.episodes = state.int64(1);
  }
  return h;
}

std::vector<StoredSuspension> active_suspensions(StateDb& db, UnixSeconds now) {
  std::vector<StoredSuspension> out;
  // The reason is the suspension's own row of suspension_reasons (written in the round
  // that stores the suspension): the one of the same end, so never an older
  // suspension's. In force as SourceState::suspension_in_force says: an end already
  // reported is over, even when the clock has stepped back before it.
  SqliteStatement select(db,
                         "SELECT s.source, s.episodes, s.last_episode, s.suspended_until, s.flags, r.since, r.kind, "
                         "r.reason, r.operator FROM source_state s LEFT JOIN suspension_reasons r "
                         "ON r.source = s.source AND r.until = s.suspended_until "
                         "WHERE s.suspended_until > ? AND (s.flags & ?) = 0 ORDER BY s.suspended_until, s.source");
  select.bind(1, now).bind(2, static_cast<std::int64_t>(SourceState::kExpiryReported));
  while (select.step()) {
    StoredSuspension& s = out.emplace_back();
    s.source = select.text(0);
    s.episodes = select.int64(1);
    s.since = select.int64(2);
    s.until = select.int64(3);
    s.manual = (select.int64(4) & SourceState::kManualSuspension) != 0;
    if (!select.is_null(5)) {
      s.since = select.int64(5);
      s.manual = select.text_view(6) == "manual";
      s.reason = select.text(7);
      s.operator_name = select.text(8);
    }
  }
  return out;
}

std::int64_t queue_admin_action(StateDb& db, const AdminAction& a) {
  SqliteStatement insert(db,
                         "INSERT INTO admin_actions (requested_at, action, source, hours, forget_episodes, reason, "
                         "operator) VALUES (?, ?, ?, ?, ?, ?, ?)");
  insert.bind(1, a.requested_at)
      .bind(2, a.action)
      .bind(3, a.source)
      .bind(4, a.hours)
      .bind(5, std::int64_t{a.forget_episodes ? 1 : 0})
      .bind(6, a.reason)
      .bind(7, a.operator_name);
  insert.run();
  return sqlite3_last_insert_rowid(db.handle());
}

namespace {
constexpr const char* kActionColumns =
    "SELECT id, requested_at, action, source, hours, forget_episodes, reason, operator, applied_at, result "
    "FROM admin_actions ";
AdminAction read_action(const SqliteStatement& s) {
  AdminAction a;
  a.id = s.int64(0);
  a.requested_at = s.int64(1);
  a.action = s.text(2);
  a.source = s.text(3);
  a.hours = s.int64(4);
  a.forget_episodes = s.int64(5) != 0;
  a.reason = s.text(6);
  a.operator_name = s.text(7);
  if (!s.is_null(8)) a.applied_at = s.int64(8);
  a.result = s.text(9);
  return a;
}
}  // namespace

std::optional<AdminAction> find_admin_action(StateDb& db, std::int64_t id) {
  SqliteStatement select(db, std::string(kActionColumns) + "WHERE id = ?");
  select.bind(1, id);
  if (!select.step()) return std::nullopt;
  return read_action(select);
}

std::vector<AdminAction> pending_admin_actions(StateDb& db) {
  SqliteStatement select(db, std::string(kActionColumns) + "WHERE applied_at IS NULL ORDER BY id");
  std::vector<AdminAction> out;
  while (select.step()) out.push_back(read_action(select));
  return out;
}

}  // namespace whoisd
