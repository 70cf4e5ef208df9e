#include "state/state_schema.h"

namespace whoisd {

namespace {

// Times: query_log in µs since the Unix epoch (answers take microseconds, and two
// queries of one client in the same second stay ordered); everything else in Unix
// seconds, as the limiter counts. Sources are the limiter's source keys as text:
// "192.0.2.1" or "2001:db8:1:2::/64" — what operators type and what reports show.
constexpr std::string_view kSchemaVersion1 = R"sql(
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

-- The limiter's per-source state (policy/limiter.h SourceState): counts in the
-- window, episodes, suspension. A source the limiter forgets loses its row.
CREATE TABLE source_state (
  source          TEXT PRIMARY KEY,            -- "192.0.2.1", "2001:db8:1:2::/64"
  key             BLOB NOT NULL,               -- the 16-byte masked address
  prefix          INTEGER NOT NULL,            -- 32 for IPv4, the IPv6 prefix length
  minutes         BLOB NOT NULL,               -- answered queries per minute: (int64 minute, uint32 count) LE, oldest first
  episodes        INTEGER NOT NULL DEFAULT 0,  -- automatic suspensions not yet forgotten
  last_episode    INTEGER NOT NULL DEFAULT 0,  -- Unix s when the last suspension started; 0 = never
  suspended_until INTEGER NOT NULL DEFAULT 0,  -- Unix s; 0 or past: not suspended
  flags           INTEGER NOT NULL DEFAULT 0,  -- SourceState::Flags (1 manual suspension, 2 expiry reported)
  updated_at      INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX source_state_suspended ON source_state (suspended_until) WHERE suspended_until > 0;

CREATE TABLE query_log (
  id         INTEGER PRIMARY KEY,
  time_us    INTEGER NOT NULL,
  source     TEXT NOT NULL,
  client     TEXT NOT NULL,
  proxy_peer TEXT,                             -- NULL when the client connected directly
  query      TEXT NOT NULL,                    -- escaped (common/escape.h)
  outcome    TEXT NOT NULL,
  answer_us  INTEGER NOT NULL
);
CREATE INDEX query_log_time ON query_log (time_us);
CREATE INDEX query_log_source ON query_log (source, time_us);

CREATE TABLE abuse_events (
  id       INTEGER PRIMARY KEY,
  time     INTEGER NOT NULL,
  source   TEXT NOT NULL,
  kind     TEXT NOT NULL CHECK (kind IN ('suspension_started', 'suspension_expired',
                                         'suspension_lifted', 'suspension_imposed')),
  episode  INTEGER NOT NULL DEFAULT 0,
  until    INTEGER NOT NULL DEFAULT 0,        -- end of the suspension (started, imposed; lifted: the end it had)
  reason   TEXT NOT NULL DEFAULT '',
  operator TEXT NOT NULL DEFAULT ''           -- who, for lifted and imposed
);
CREATE INDEX abuse_events_time ON abuse_events (time);
CREATE INDEX abuse_events_source ON abuse_events (source, time);

-- Operators' commands from whoisd-admin; the daemon applies them and fills applied_at.
CREATE TABLE admin_actions (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  requested_at INTEGER NOT NULL,
  action       TEXT NOT NULL CHECK (action IN ('lift', 'suspend')),
  source       TEXT NOT NULL,
  hours        INTEGER NOT NULL DEFAULT 0,     -- suspend: counted from when it is applied
  forget_episodes INTEGER NOT NULL DEFAULT 0,  -- lift: also forget the episodes (no escalation)
  reason       TEXT NOT NULL,
  operator     TEXT NOT NULL,
  applied_at   INTEGER,                        -- NULL while pending
  result       TEXT                            -- what applying it did
);
CREATE INDEX admin_actions_pending ON admin_actions (id) WHERE applied_at IS NULL;
)sql";

// Added by version 2: what whoisd-admin top counts, kept by the query-log writer so
// that a period of weeks is read in whole hours instead of row by row.
constexpr std::string_view kAddedInVersion2 = R"sql(
-- query_log counted per UTC hour, source and outcome (lib/state/query_counts.h): one
-- row per (hour, source, outcome) that has rows in query_log up to id N, the meta key
-- query_counts_through_id. Always equal to
--   SELECT time_us / 3600000000 (floor), source, outcome, count(*), min(time_us), max(time_us)
--   FROM query_log WHERE id <= N GROUP BY 1, 2, 3
-- because every change to either keeps that true in its transaction: the writer adds
-- its counts of the rows above N and moves N past them in one transaction a minute
-- (a kill -9 loses only its counts in memory; the next writer counts those rows again
-- from query_log), and the purge recounts the (hour, source, outcome) whose rows <= N
-- it deleted from the rows left. Reports add the rows above N (about a minute of them).
-- Clustered by hour first: a period is a range of the table.
CREATE TABLE query_counts (
  hour     INTEGER NOT NULL,                   -- floor(time_us / 3,600,000,000): hours since the Unix epoch, UTC
  source   TEXT NOT NULL,                      -- as query_log.source
  outcome  TEXT NOT NULL,                      -- as query_log.outcome
  queries  INTEGER NOT NULL,                   -- rows of query_log with this hour, source and outcome
  first_us INTEGER NOT NULL,                   -- their smallest time_us
  last_us  INTEGER NOT NULL,                   -- their largest time_us
  PRIMARY KEY (hour, source, outcome)
) WITHOUT ROWID;
)sql";

// Added by version 3: the limiter's changed sources appended once a round instead of
// upserted into source_state (lib/state/source_journal.h).
constexpr std::string_view kAddedInVersion3 = R"sql(
-- One row per round of the daemon's state writer: the sources whose state changed in
-- it, encoded (lib/state/source_journal.h). A source's stored state is its source_state
-- row unless it has an entry here, in which case its last entry (by id). The daemon
-- folds the rows into source_state (each source once, the rows deleted, in one
-- transaction) every minute or so, at its stop and before loading at its start.
-- Suspensions are also written straight to source_state in the round that changes
-- them, so whoisd-admin's views never need to read this table.
CREATE TABLE source_journal (
  id      INTEGER PRIMARY KEY,
  time    INTEGER NOT NULL,                    -- Unix s of the round
  entries INTEGER NOT NULL,                    -- source states in the blob
  states  BLOB NOT NULL                        -- the entries, as source_journal.h describes
);
)sql";

// Changed by version 4: abuse_events takes two more kinds of operator action, so
// that the abuse log says what a command did and never what it did not:
// 'suspension_kept', a whoisd-admin suspend that met a suspension in force ending as
// late or later (kept as it was: an operator's suspension never shortens one; until
// is the end kept), and 'episodes_forgotten', a lift --forget-episodes of a source that
// was not suspended (episode: how many it forgot). SQLite cannot change a CHECK
// constraint in place, so the table is made again with it, its rows and ids copied.
// A new file is made from version 1 upwards too (this on an empty table), so that a
// new file and an upgraded one have the same schema.
constexpr std::string_view kChangedInVersion4 = R"sql(
CREATE TABLE abuse_events_version_4 (
  id       INTEGER PRIMARY KEY,
  time     INTEGER NOT NULL,
  source   TEXT NOT NULL,
  kind     TEXT NOT NULL CHECK (kind IN ('suspension_started', 'suspension_expired',
                                         'suspension_lifted', 'suspension_imposed',
                                         'suspension_kept', 'episodes_forgotten')),
  episode  INTEGER NOT NULL DEFAULT 0,         -- episodes_forgotten: how many were forgotten
  until    INTEGER NOT NULL DEFAULT 0,         -- end of the suspension (started, imposed, kept; lifted: the end it had)
  reason   TEXT NOT NULL DEFAULT '',
  operator TEXT NOT NULL DEFAULT ''            -- who, for the operators' kinds (lifted, imposed, kept, forgotten)
);
INSERT INTO abuse_events_version_4 (id, time, source, kind, episode, until, reason, operator)
  SELECT id, time, source, kind, episode, until, reason, operator FROM abuse_events;
DROP TABLE abuse_events;
ALTER TABLE abuse_events_version_4 RENAME TO abuse_events;
CREATE INDEX abuse_events_time ON abuse_events (time);
CREATE INDEX abuse_events_source ON abuse_events (source, time);
)sql";

// Added by version 5: what whoisd-admin suspensions shows of a suspension in force
// (why, by whom), kept with the suspension instead of looked up in the abuse log,
// whose events the retention purges while a long manual suspension is still in force.
constexpr std::string_view kAddedInVersion5 = R"sql(
-- The start of each source's last suspension: written by the state writer in the round
-- that writes its abuse event (suspension_started, suspension_imposed), deleted in
-- the round that ends it (suspension_expired, suspension_lifted). It explains the
-- suspension in force when until = source_state.suspended_until; a row left by an end
-- the writer never saw (the limiter's event queue overflowed) explains nothing, and
-- the purge removes it once until is older than the retention.
CREATE TABLE suspension_reasons (
  source   TEXT PRIMARY KEY,                   -- as source_state.source
  until    INTEGER NOT NULL,                   -- Unix s: the end of the suspension it explains
  since    INTEGER NOT NULL,                   -- Unix s: when the limit started it or an operator imposed it
  kind     TEXT NOT NULL CHECK (kind IN ('automatic', 'manual')),  -- the limit's, or an operator's
  reason   TEXT NOT NULL,                      -- "limit of 1000 queries crossed", or the operator's
  operator TEXT NOT NULL DEFAULT ''            -- who imposed it; '' for the limit's
) WITHOUT ROWID;
)sql";

// The upgrade from version 4: the suspensions' reasons taken from the abuse event that
// started each (what whoisd-admin suspensions looked up until version 4): the last event
// of the source to start or impose a suspension ending when it ends. A suspension
// whose event was purged gets none (its reason is not known any more).
constexpr std::string_view kFilledInVersion5 = R"sql(
INSERT INTO suspension_reasons (source, until, since, kind, reason, operator)
  SELECT s.source, s.suspended_until, e.time,
         CASE e.kind WHEN 'suspension_imposed' THEN 'manual' ELSE 'automatic' END, e.reason, e.operator
  FROM source_state s JOIN abuse_events e ON e.id =
    (SELECT id FROM abuse_events WHERE source = s.source AND until = s.suspended_until AND
     kind IN ('suspension_started', 'suspension_imposed') ORDER BY time DESC, id DESC LIMIT 1)
  WHERE s.suspended_until > 0;
)sql";

constexpr std::string_view kTables[] = {"meta",         "source_state", "query_log",     "abuse_events",
                                        "admin_actions", "query_counts", "source_journal", "suspension_reasons"};

}  // namespace

std::string state_schema_sql() {
  return std::string(kSchemaVersion1) + std::string(kAddedInVersion2) + std::string(kAddedInVersion3) +
         std::string(kChangedInVersion4) + std::string(kAddedInVersion5);
}
std::string_view state_schema_version_1_sql() { return kSchemaVersion1; }
std::string_view state_schema_added_in_version_2() { return kAddedInVersion2; }
std::string_view state_schema_added_in_version_3() { return kAddedInVersion3; }
std::string_view state_schema_changed_in_version_4() { return kChangedInVersion4; }
std::string_view state_schema_added_in_version_5() { return kAddedInVersion5; }
std::string_view state_schema_filled_in_version_5() { return kFilledInVersion5; }
std::span<const std::string_view> state_schema_tables() { return kTables; }

}  // namespace whoisd
