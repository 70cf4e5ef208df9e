#include "state/state_reports.h"

#include <algorithm>
#include <optional>

#include "state/sqlite_statement.h"

namespace whoisd {

namespace {

// top_sources reads only the period's rows when they are under 1/8 of the log. On a
// 10,000,000-row log over 30 days (2026-11-23): reading the whole source index takes
// 0.4-2 s whatever the period; reading the period's rows takes 0.01 s for 1 h, 0.19 s
// for 24 h, and is as slow as the index at about 1/10 of the log.
constexpr std::int64_t kSmallPeriodShare = 8;

// The first row of the log at or after since_us, by the time index (one B-tree
// search); nullopt when there is none.
std::optional<std::int64_t> first_id_at(StateDb& db, std::int64_t since_us) {
  SqliteStatement first(db,
                        "SELECT id FROM query_log INDEXED BY query_log_time WHERE time_us >= ? "
                        "ORDER BY time_us LIMIT 1");
  first.bind(1, since_us);
  if (!first.step()) return std::nullopt;
  return first.int64(0);
}

// Whether the rows since since_us are a small part of the log, judged by ids (which
// the writer assigns in about the order of time): three B-tree searches.
bool period_is_small(StateDb& db, std::int64_t since_us) {
  auto first = first_id_at(db, since_us);
  if (!first) return true;
  // Two subqueries: SQLite finds a lone min() or max() with one B-tree search, both in
  // one SELECT with a scan of the table.
  SqliteStatement ends(db, "SELECT (SELECT min(id) FROM query_log), (SELECT max(id) FROM query_log)");
  if (!ends.step()) return true;
  std::int64_t lo = ends.int64(0), hi = ends.int64(1);
  return (hi - *first + 1) * kSmallPeriodShare < hi - lo + 1;
}

}  // namespace

std::vector<TopSource> top_sources(StateDb& db, std::int64_t since_us, std::size_t limit) {
  std::vector<TopSource> out;
  // Two ways to count each source's rows in the period, chosen by how much of the log
  // the period is (the results are the same; only the work differs):
  // - most of the log: scan the whole (source, time_us) index, which holds all that is
  //   counted, grouped by source already; the cost is the log's size, not the period's.
  // - a small part (the default 24 h of a 90-day log): read only the period's rows, a
  //   range of the table from the lowest id among them (exact: every row at or after
  //   since_us has an id at least that, by the time index), so the cost is the period's.
  const char* kWholeIndex =
      "SELECT source, count(*), min(time_us), max(time_us) FROM query_log INDEXED BY query_log_source "
      "WHERE time_us >= ?1 GROUP BY source ORDER BY count(*) DESC, source LIMIT ?2";
  const char* kPeriodRows =
      "SELECT source, count(*), min(time_us), max(time_us) FROM query_log NOT INDEXED "
      "WHERE id >= (SELECT min(id) FROM query_log INDEXED BY query_log_time WHERE time_us >= ?1) "
      "AND time_us >= ?1 GROUP BY source ORDER BY count(*) DESC, source LIMIT ?2";
  SqliteStatement top(db, period_is_small(db, since_us) ? kPeriodRows : kWholeIndex);
  top.bind(1, since_us).bind(2, static_cast<std::int64_t>(limit));
  while (top.step()) {
    TopSource t;
    t.source = top.text(0);
    t.queries = top.int64(1);
    t.first_us = top.int64(2);
    t.last_us = top.int64(3);
    out.push_back(std::move(t));
  }
  SqliteStatement by_outcome(db,
                             "SELECT outcome, count(*) FROM query_log WHERE source = ? AND time_us >= ? "
                             "GROUP BY outcome ORDER BY count(*) DESC, outcome");
  for (TopSource& t : out) {
    by_outcome.bind(1, t.source).bind(2, since_us);
    while (by_outcome.step()) t.outcomes.emplace_back(by_outcome.text(0), by_outcome.int64(1));
    by_outcome.reset();
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
  SqliteStatement count(db, "SELECT count(*) FROM query_log WHERE source = ? AND time_us >= ?");
  count.bind(1, source).bind(2, since_us);
  if (count.step()) h.queries_total = count.int64(0);
  SqliteStatement events(db,
                         "SELECT time, source, kind, reason, operator, episode, until FROM abuse_events "
                         "WHERE source = ? AND time >= ? ORDER BY time DESC, id DESC LIMIT ?");
  events.bind(1, source).bind(2, since_us / 1'000'000).bind(3, lim);
  while (events.step())
    h.events.push_back({events.int64(0), events.text(1), events.text(2), events.text(3), events.text(4),
                        events.int64(5), events.int64(6)});
  SqliteStatement state(db, "SELECT suspended_until, episodes FROM source_state WHERE source = ?");
  state.bind(1, source);
  if (state.step()) {
    if (state.int64(0) > now) h.suspended_until = state.int64(0);
    h.episodes = state.int64(1);
  }
  return h;
}

std::vector<StoredSuspension> active_suspensions(StateDb& db, UnixSeconds now) {
  std::vector<StoredSuspension> out;
  SqliteStatement select(db,
                         "SELECT source, episodes, last_episode, suspended_until, flags FROM source_state "
                         "WHERE suspended_until > ? ORDER BY suspended_until, source");
  select.bind(1, now);
  while (select.step())
    out.push_back({select.text(0), select.int64(1), select.int64(2), select.int64(3), (select.int64(4) & 1) != 0});
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
