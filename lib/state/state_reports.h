// What operators ask of the state database (whoisd-admin): the busiest sources,
// one source's history, the suspensions in force, and the commands they queue for
// the running daemon. Read from the stored state, so it works whether or not the
// daemon is running (and shows what the daemon last wrote: at most a second old).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "state/state_db.h"

namespace whoisd {

struct TopSource {
  std::string source;
  std::int64_t queries = 0;      // the rows the limiter counted (query_log.h counted_by_limiter)
  std::int64_t not_counted = 0;  // the other rows: refused by the limit, timeouts, connections refused
  // Every row by outcome (query_log.h QueryOutcome words), most first; only outcomes that occurred.
  std::vector<std::pair<std::string, std::int64_t>> outcomes;
  std::int64_t first_us = 0, last_us = 0;  // of every row
};
// Sources with most queries the limiter counted since `since_us` (µs since the epoch),
// most first (then most rows it did not count).
std::vector<TopSource> top_sources(StateDb& db, std::int64_t since_us, std::size_t limit);

struct LoggedQuery {
  std::int64_t time_us = 0;
  std::string client, proxy_peer, query, outcome;  // proxy_peer empty when direct
  std::int64_t answer_us = 0;
};
struct AbuseEvent {
  UnixSeconds time = 0;
  std::string source, kind, reason, operator_name;
  std::int64_t episode = 0;
  UnixSeconds until = 0;
};
struct SourceHistory {
  std::vector<LoggedQuery> queries;  // the query log's rows, counted or not: newest first, at most the limit
  std::int64_t rows_total = 0;       // the rows in the period, beyond the limit too
  std::int64_t queries_total = 0;    // ... of which the limiter counted (query_log.h counted_by_limiter)
  std::vector<std::pair<std::string, std::int64_t>> outcomes;  // the rows in the period by outcome, most first
  std::vector<AbuseEvent> events;    // newest first, at most the limit
  std::optional<UnixSeconds> suspended_until;  // from the stored state, when suspended now
  bool manual = false;                          // ... by an operator (whoisd-admin suspend)
  std::int64_t episodes = 0;
};
SourceHistory source_history(StateDb& db, const std::string& source, std::int64_t since_us, std::size_t limit,
                             UnixSeconds now);

struct StoredSuspension {
  std::string source;
  std::int64_t episodes = 0;
  // When it started (the limit) or was imposed (an operator); without its reason, when
  // the last automatic suspension started (0: never).
  UnixSeconds since = 0;
  UnixSeconds until = 0;
  bool manual = false;  // an operator's (whoisd-admin suspend), not the limit's
  // Kept with the suspension (suspension_reasons, state schema 5): the operator's
  // reason, or the limit's ("limit of 1000 queries crossed"). nullopt only for a
  // suspension whose start was not recorded with it: one that began under schema 4 and
  // whose abuse event had been purged by the upgrade, or whose start event the limiter
  // dropped (its event queue overflowed).
  std::optional<std::string> reason;
  std::string operator_name;  // "" for the limit's
};
// Suspensions in force at `now`, ending soonest first.
std::vector<StoredSuspension> active_suspensions(StateDb& db, UnixSeconds now);

struct AdminAction {
  std::int64_t id = 0;
  UnixSeconds requested_at = 0;
  std::string action;  // "lift" or "suspend"
  std::string source;
  std::int64_t hours = 0;
  bool forget_episodes = false;
  std::string reason, operator_name;
  std::optional<UnixSeconds> applied_at;
  std::string result;
};
// Queues a command for the daemon; returns its id. `action.id`, applied_at, result are ignored.
std::int64_t queue_admin_action(StateDb& db, const AdminAction& action);
std::optional<AdminAction> find_admin_action(StateDb& db, std::int64_t id);
std::vector<AdminAction> pending_admin_actions(StateDb& db);

}  // namespace whoisd
