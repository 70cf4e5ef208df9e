#include "state/state_persister.h"

#include <cstring>
#include <set>
#include <stdexcept>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/duration.h"
#include "common/log.h"
#include "common/thread_setup.h"
#include "common/wall_clock_watch.h"
#include "policy/limiter.h"
#include "state/admin_action_result.h"
#include "state/retention.h"
#include "state/source_journal.h"
#include "state/source_state_table.h"
#include "state/sqlite_statement.h"
#include "state/state_db.h"
#include "state/suspension_reasons.h"

namespace whoisd {
namespace {

struct EventRow {
  UnixSeconds time = 0;
  std::string source;
  std::string_view kind;
  std::int64_t episode = 0;
  UnixSeconds until = 0;
  std::string reason;
  std::string operator_name;
};

struct ActionMark {
  std::int64_t id = 0;
  UnixSeconds applied_at = 0;
  std::string result;
};

EventRow event_row(const LimiterEvent& e) {
  EventRow row;
  row.source = to_string(e.source);
  row.episode = e.episode;
  row.until = e.until;
  row.time = e.at;
  if (e.kind == LimiterEvent::Kind::suspension_started) {
    row.kind = "suspension_started";
    row.reason = "limit of " + std::to_string(e.limit) + " queries crossed";
  } else {
    row.kind = "suspension_expired";
    row.reason = e.manual ? "operator's suspension ended" : "suspension ended";
  }
  return row;
}

std::string suspension_kind(bool manual, std::uint32_t episode) {
  return manual ? "an operator" : "the limit (episode " + std::to_string(episode) + ")";
}

// The abuse log records what the lift did, and nothing when it did nothing: a
// suspension_lifted event for a suspension that never existed would mislead an audit.
std::string apply_lift(Limiter& limiter, const SourceKey& key, bool forget, const EventRow& action,
                       std::vector<EventRow>& events) {
  LiftResult r = limiter.lift(key, forget);
  std::string result;
  if (r.was_suspended) {
    result = "lifted (was suspended until " + log::iso8601_utc(r.previous_until) + " by " +
             suspension_kind(r.previous_manual, r.episodes + r.episodes_forgotten) + ")";
    EventRow lifted = action;
    lifted.kind = "suspension_lifted";
    lifted.episode = r.episodes;
    lifted.until = r.previous_until;
    events.push_back(std::move(lifted));
  } else {
    result = r.episodes_forgotten ? "not suspended" : std::string(kNothingToLift);
  }
  if (r.episodes_forgotten) {
    result += "; " + std::to_string(r.episodes_forgotten) + " episode(s) forgotten: the next suspension is the first";
    EventRow forgotten = action;
    forgotten.kind = "episodes_forgotten";
    forgotten.episode = r.episodes_forgotten;
    events.push_back(std::move(forgotten));
  }
  return result;
}

// An operator's suspension never shortens one in force (Limiter::suspend keeps the
// later end): the result and the abuse log say which end was kept and whose it is.
std::string apply_suspend(Limiter& limiter, const SourceKey& key, std::int64_t hours, const EventRow& action,
                          std::vector<EventRow>& events) {
  SuspendResult r = limiter.suspend(key, std::chrono::hours(hours));
  EventRow row = action;
  row.episode = r.episodes;
  row.until = r.until;
  std::string result;
  if (r.kept) {
    row.kind = "suspension_kept";
    result = std::string(kSuspensionKept) + "already suspended until " + log::iso8601_utc(r.until) + " by " +
             suspension_kind(r.previous_manual, r.episodes) + ", later than the " + std::to_string(hours) +
             " h asked; to shorten it, lift it first";
  } else {
    row.kind = "suspension_imposed";
    result = "suspended until " + log::iso8601_utc(r.until);
    if (r.previous_until)
      result += " (it was suspended until " + log::iso8601_utc(r.previous_until) + " by " +
                suspension_kind(r.previous_manual, r.episodes) + ")";
  }
  events.push_back(std::move(row));
  return result;
}

struct SourceKeyHash {
  std::size_t operator()(const SourceKey& k) const noexcept {
    std::uint64_t a, b;
    std::memcpy(&a, k.bytes.data(), 8);
    std::memcpy(&b, k.bytes.data() + 8, 8);
    return static_cast<std::size_t>((a * 0x9e3779b97f4a7c15u) ^ (b * 0xc2b2ae3d27d4eb4fu) ^ k.prefix);
  }
};

// What whoisd-admin's views read from source_state (suspensions, history).
bool has_suspension_fields(const SourceState& s) {
  return s.episodes != 0 || s.last_episode != 0 || s.suspended_until != 0 || s.flags != 0;
}

}  // namespace

struct StatePersister::Impl {
  Impl(const std::string& path, std::chrono::seconds wall_clock_hold)
      : db(StateDb::open(path, StateDb::Mode::read_write)),
        sources(db),
        journal(db),
        suspension_reasons(db),
        insert_event(db,
                     "INSERT INTO abuse_events (time, source, kind, episode, until, reason, operator) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)"),
        pending_actions(db,
                        "SELECT id, action, source, hours, reason, operator, forget_episodes FROM admin_actions "
                        "WHERE applied_at IS NULL ORDER BY id LIMIT 1000"),
        mark_applied(db, "UPDATE admin_actions SET applied_at = ?, result = ? WHERE id = ?"),
        wall_clock(wall_clock_hold) {}

  std::mutex mutex;  // one round or purge at a time on this connection
  StateDb db;
  SourceStateTable sources;
  SourceJournal journal;
  SuspensionReasonTable suspension_reasons;  // in step with the suspension events written
  SourceJournalRecord record;  // the round's changed sources (its buffer is reused)
  // The sources whose source_state row has suspension fields (episodes, suspension,
  // flags): a state of theirs is written straight to source_state too, also the one
  // that clears those fields, so that whoisd-admin's views are never a fold behind.
  // As many as the sources with a suspension in the quiet period (the limiter's heavy
  // records hold them as well).
  std::unordered_set<SourceKey, SourceKeyHash> suspension_rows;
  std::vector<std::pair<SourceKey, bool>> suspension_rows_changed;  // applied once the round commits
  std::uint64_t journal_entries = 0;  // in source_journal since the last fold
  std::uint64_t journal_bytes = 0;    // their blobs' bytes
  MonotonicSeconds next_fold = 0;

  // Writes `state` to source_state now when whoisd-admin's views need it (see
  // suspension_rows); true if it did.
  bool write_direct_if_needed(const SourceState& state, UnixSeconds now) {
    bool fields = has_suspension_fields(state);
    if (!fields && !suspension_rows.count(state.key)) return false;
    sources.write(state, now);
    suspension_rows_changed.emplace_back(state.key, fields);
    return true;
  }
  void apply_suspension_rows_changed() {
    for (const auto& [key, fields] : suspension_rows_changed) {
      if (fields)
        suspension_rows.insert(key);
      else
        suspension_rows.erase(key);
    }
    suspension_rows_changed.clear();
  }
  SqliteStatement insert_event;
  SqliteStatement pending_actions;
  SqliteStatement mark_applied;

  // What a failed round applied to the limiter but could not write: written by the next.
  std::vector<EventRow> unwritten_events;
  std::vector<ActionMark> unwritten_marks;
  std::set<std::int64_t> applied_ids;  // applied to the limiter, mark not yet committed
  bool full_rewrite = false;           // dirty marks were consumed by a failed round

  WallClockWatch wall_clock;  // read by purge_round() only
  MonotonicSeconds next_purge = 0;  // 0: due at once (the watch holds the first one back)
  bool purge_more = false;
  bool purge_deferral_logged = false;  // since the last purge
  std::uint64_t limiter_events_dropped_seen = 0;
  std::uint64_t limiter_evicted_seen = 0;

  std::atomic<std::uint64_t> rounds{0}, round_errors{0}, sources_written{0}, events_written{0}, actions_applied{0},
      rows_purged{0}, folds{0}, sources_written_direct{0};
};

StatePersister::StatePersister(std::string db_path, Limiter& limiter, const Clock& clock,
                               StatePersisterOptions options)
    : impl_(std::make_unique<Impl>(db_path, options.wall_clock_hold)),
      limiter_(limiter),
      clock_(clock),
      options_(options) {
  if (options_.interval <= std::chrono::milliseconds::zero() || options_.interval > std::chrono::seconds(1))
    options_.interval = std::chrono::seconds(1);
  if (options_.purge_batch == 0) options_.purge_batch = 1;
}

StatePersister::~StatePersister() {
  try {
    stop();
  } catch (...) {  // stop() logs; a destructor must not throw
  }
}

StateLoadSummary StatePersister::load() {
  StateLoadSummary summary;
  UnixSeconds now = clock_.now();
  std::vector<std::string> refused;
  {
    std::lock_guard lock(impl_->mutex);
    // What the last run journaled since its last fold (all of it after a kill -9).
    JournalFold folded;
    {
      StateDb::Transaction tx(impl_->db);
      folded = impl_->journal.fold(impl_->sources);
      tx.commit();
    }
    if (folded.records > 0)
      log::info("state_journal_folded")
          .kv("file", impl_->db.path())
          .kv("records", folded.records)
          .kv("sources", folded.sources)
          .kv("at", "load");
    impl_->journal_entries = 0;
    impl_->journal_bytes = 0;
    impl_->next_fold = clock_.monotonic() + options_.fold_every.count();
    impl_->suspension_rows.clear();
    impl_->sources.load_all([&](const SourceState& state) {
      if (has_suspension_fields(state)) impl_->suspension_rows.insert(state.key);
      if (!limiter_.import(state)) {
        if (!state.key.is_v4() && state.key.prefix != limiter_.ipv6_prefix()) {
          refused.push_back(to_string(state.key));
          return;
        }
        throw StateDbError("state database " + impl_->db.path() + ": source_state row '" + to_string(state.key) +
                           "' is damaged: the limiter refuses its state (minutes out of order or out of range, or "
                           "host bits set in the key)");
      }
      ++summary.sources;
      if (state.suspension_in_force(now)) ++summary.active_suspensions;
    });
    if (!refused.empty()) {
      // Keys of another IPv6 prefix length (the configuration changed): this limiter
      // cannot hold them, so they would never be updated again. Said, then removed.
      log::warn("state_sources_dropped")
          .kv("sources", refused.size())
          .kv("example", refused.front())
          .kv("reason", "stored with another ipv6_prefix than the configured " +
                            std::to_string(limiter_.ipv6_prefix()));
      StateDb::Transaction tx(impl_->db);
      SqliteStatement erase(impl_->db, "DELETE FROM source_state WHERE source = ?");
      for (const std::string& s : refused) erase.bind(1, s).run();
      tx.commit();
    }
  }
  std::uint64_t before = impl_->actions_applied.load();
  round();
  summary.admin_actions = impl_->actions_applied.load() - before;
  log::info("state_loaded")
      .kv("file", impl_->db.path())
      .kv("sources", summary.sources)
      .kv("active_suspensions", summary.active_suspensions)
      .kv("admin_actions_applied", summary.admin_actions);
  return summary;
}

void StatePersister::start() {
  std::lock_guard lock(mutex_);
  if (started_ || stopping_) return;
  started_ = true;
  thread_ = std::thread([this] {
    set_up_writer_thread("whoisd-state", options_.idle_priority, "state_priority");
    run();
  });
}

void StatePersister::stop() {
  bool was_started;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
    was_started = started_;
  }
  wake_.notify_one();
  if (was_started) {
    thread_.join();  // the thread writes the last round
  } else {
    try {
      round_and_fold(true);
    } catch (const StateDbError& e) {
      log::error("state_write_failed").kv("error", e.what());
    }
  }
}

void StatePersister::run() {
  std::uint64_t failing_rounds = 0;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, options_.interval, [&] { return stopping_; });
      if (stopping_) break;
    }
    try {
      logged_round(false);
      if (failing_rounds > 0) log::info("state_write_recovered").kv("failed_rounds", failing_rounds);
      failing_rounds = 0;
    } catch (const StateDbError& e) {
      // The first failure and then one line a minute or so, not two a second (a full disk).
      if (failing_rounds++ % 120 == 0)
        log::error("state_write_failed").kv("error", e.what()).kv("failed_rounds", failing_rounds).kv("retry",
                                                                                                       "next round");
    }
    purge_round();
  }
  try {
    logged_round(true);
  } catch (const StateDbError& e) {
    log::error("state_write_failed").kv("error", e.what()).kv("at", "stop");
  }
}

void StatePersister::purge_round() {
  Impl& im = *impl_;
  // The cutoff below is this very reading's wall time: a step is seen on the reading
  // that would cut by it.
  const WallClockWatch::Reading clocks = im.wall_clock.read(clock_);
  if (clocks.step != 0)
    log::warn("wall_clock_step")
        .kv("seconds", (clocks.step > 0 ? "+" : "") + std::to_string(clocks.step))
        .kv("purge_trusted_in", format_duration(std::chrono::seconds(clocks.trusted_in)));
  if (!im.purge_more && clocks.monotonic < im.next_purge) return;
  if (!clocks.trusted) {
    // Once per deferral, and not for the hold at start, which is no news.
    if (clocks.after_step && !im.purge_deferral_logged) {
      log::warn("state_purge_deferred")
          .kv("reason", "the wall clock stepped")
          .kv("resumes_in", format_duration(std::chrono::seconds(clocks.trusted_in)))
          .kv("if", "the wall clock keeps pace with the monotonic clock until then");
      im.purge_deferral_logged = true;
    }
    return;
  }
  im.purge_deferral_logged = false;
  try {
    std::lock_guard lock(im.mutex);
    // A few batches a round: a large backlog of old rows goes over several rounds
    // instead of holding up the state writes.
    PurgeCounts counts = purge_some(im.db, clocks.wall - options_.retention.count(), options_.purge_batch, 4);
    im.purge_more = counts.more;
    if (!counts.more) im.next_purge = clocks.monotonic + options_.purge_every.count();
    im.rows_purged += counts.total();
    if (counts.total() > 0)
      log::info("state_purged")
          .kv("query_log", counts.query_log)
          .kv("abuse_events", counts.abuse_events)
          .kv("admin_actions", counts.admin_actions)
          .kv("more", counts.more);
  } catch (const StateDbError& e) {
    log::error("state_purge_failed").kv("error", e.what());
    im.next_purge = clocks.monotonic + options_.purge_every.count();
    im.purge_more = false;
  }
}

void StatePersister::logged_round(bool fold_now) {
  const auto started = std::chrono::steady_clock::now();
  const StatePersisterStats before = stats();
  round_and_fold(fold_now);
  if (log::level() > log::Level::debug) return;
  const StatePersisterStats after = stats();
  if (after.sources_written == before.sources_written && after.events_written == before.events_written &&
      after.admin_actions_applied == before.admin_actions_applied)
    return;  // a quiet second says nothing
  log::debug("state_round")
      .kv("sources_written", after.sources_written - before.sources_written)
      .kv("events_written", after.events_written - before.events_written)
      .kv("admin_actions", after.admin_actions_applied - before.admin_actions_applied)
      .kv("folded", after.folds != before.folds)
      .kv("ms", std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
                    .count());
}

void StatePersister::round() { round_and_fold(false); }


void StatePersister::round_and_fold(bool fold_now) {
  Impl& im = *impl_;
  std::lock_guard lock(im.mutex);
  const UnixSeconds now = clock_.now();
  const MonotonicSeconds monotonic = clock_.monotonic();  // the fold's schedule: immune to wall-clock steps
  ++im.rounds;
  try {
    StateDb::Transaction tx(im.db);

    // 1. Operators' commands, oldest first. Applied to the limiter before its state
    // is exported below, so that this very transaction stores their effect.
    while (im.pending_actions.step()) {
      std::int64_t id = im.pending_actions.int64(0);
      if (im.applied_ids.count(id)) continue;
      std::string action = im.pending_actions.text(1);
      std::string source_text = im.pending_actions.text(2);
      std::int64_t hours = im.pending_actions.int64(3);
      std::string reason = im.pending_actions.text(4);
      std::string who = im.pending_actions.text(5);
      bool forget = im.pending_actions.int64(6) != 0;

      ActionMark mark{id, now, ""};
      std::string error;
      std::optional<SourceKey> key = parse_source_key(source_text, limiter_.ipv6_prefix(), &error);
      if (!key) {
        mark.result = std::string(kActionRefused) + error;
      } else if (action == "lift") {
        mark.result = apply_lift(limiter_, *key, forget, {now, to_string(*key), {}, 0, 0, reason, who}, im.unwritten_events);
      } else if (action == "suspend" && limiter_.exempt(*key)) {
        mark.result = std::string(kActionRefused) + to_string(*key) +
                      " is exempt from the limits ([limits] exempt), so a suspension would never apply to it; "
                      "take it out of the exemption (and reload) first";
      } else if (action == "suspend" && hours > 0 && hours <= 24 * 366 * 10) {
        mark.result = apply_suspend(limiter_, *key, hours, {now, to_string(*key), {}, 0, 0, reason, who}, im.unwritten_events);
      } else {
        mark.result = std::string(kActionRefused) + "not a valid action ('" + action + "', hours " +
                      std::to_string(hours) + ")";
      }
      log::info("admin_action")
          .kv("id", id)
          .kv("action", action)
          .kv("source", source_text)
          .kv("operator", who)
          .kv("reason", reason)
          .kv("result", mark.result);
      im.applied_ids.insert(id);
      im.unwritten_marks.push_back(std::move(mark));
      ++im.actions_applied;
    }
    im.pending_actions.reset();

    // 2. Suspensions started and expired.
    std::vector<LimiterEvent> events;
    limiter_.drain_events(events);
    for (const LimiterEvent& e : events) {
      im.unwritten_events.push_back(event_row(e));
      // A start is logged by the loop that refused the crossing query (event=suspension);
      // an end happens on no query at all, so it is logged here, for the same reader.
      if (e.kind == LimiterEvent::Kind::suspension_expired)
        log::info("suspension_expired")
            .kv("source", to_string(e.source))
            .kv("episode", e.episode)
            .kv("ended", log::iso8601_utc(e.until))
            .kv("kind", e.manual ? "operator" : "limit");
    }
    if (im.rounds % 16 == 1) {
      const LimiterStats stats = limiter_.stats();
      std::uint64_t dropped = stats.events_dropped;
      if (dropped != im.limiter_events_dropped_seen)
        log::warn("abuse_events_dropped")
            .kv("events", dropped - im.limiter_events_dropped_seen)
            .kv("reason", "the limiter's event queue overflowed between state rounds");
      im.limiter_events_dropped_seen = dropped;
      // At most one line in 16 rounds, however many sources a flood brings.
      if (stats.evicted_sources != im.limiter_evicted_seen)
        log::warn("limiter_full")
            .kv("max_sources", stats.max_sources)
            .kv("evicted", stats.evicted_sources - im.limiter_evicted_seen)
            .kv("evicted_total", stats.evicted_sources)
            .kv("reason", "more distinct sources than [limits] max_sources: the ones that matter least were "
                          "forgotten, and their queries no longer count");
      im.limiter_evicted_seen = stats.evicted_sources;
    }

    for (const EventRow& e : im.unwritten_events) {
      im.insert_event.bind(1, e.time)
          .bind(2, e.source)
          .bind(3, e.kind)
          .bind(4, e.episode)
          .bind(5, e.until)
          .bind(6, e.reason)
          .bind(7, e.operator_name);
      im.insert_event.run();
      im.suspension_reasons.follow(e.kind, e.source, e.time, e.until, e.reason, e.operator_name);
    }
    for (const ActionMark& m : im.unwritten_marks) im.mark_applied.bind(1, m.applied_at).bind(2, m.result).bind(3, m.id).run();

    // 3. The sources that changed: one journal record, plus the rows whoisd-admin's
    // views read written straight to source_state (write_direct_if_needed). After a
    // failed round, whose dirty marks were consumed without being stored, source_state
    // is rewritten whole from the limiter instead (which holds every source not
    // forgotten since load()): emptied first, so that the sources forgotten in the
    // meantime, whose marks went with the failed round, lose their rows too.
    std::string sink_error;
    std::uint64_t written = 0, direct = 0;
    im.record.clear();
    im.suspension_rows_changed.clear();
    bool rewrite = im.full_rewrite;
    im.full_rewrite = true;  // until this round commits
    if (rewrite) {
      im.journal.fold(im.sources);  // empties the journal; its entries are in the limiter too
      im.db.exec("DELETE FROM source_state");
      limiter_.export_dirty([](const SourceState&) {});  // export_all covers them
      limiter_.export_all([&](const SourceState& state) {
        if (!sink_error.empty()) return;
        try {
          im.sources.write(state, now);
          im.suspension_rows_changed.emplace_back(state.key, has_suspension_fields(state));
          ++written;
          ++direct;
        } catch (const StateDbError& e) {
          sink_error = e.what();
        }
      });
    } else {
      limiter_.export_dirty([&](const SourceState& state) {
        if (!sink_error.empty()) return;
        try {
          im.record.add(state);
          if (im.write_direct_if_needed(state, now)) ++direct;
          ++written;
        } catch (const StateDbError& e) {
          sink_error = e.what();
        }
      });
    }
    if (!sink_error.empty()) throw StateDbError(sink_error);
    if (im.record.entries() > 0) im.journal.append(now, im.record);

    // 4. The journal folded into source_state every fold_every, or once it holds
    // fold_entries entries or fold_bytes (what bounds the fold's memory and the
    // journal's size).
    const std::uint64_t journal_entries = im.journal_entries + im.record.entries();
    const std::uint64_t journal_bytes = im.journal_bytes + im.record.bytes().size();
    const bool fold = !rewrite && (fold_now || journal_entries >= options_.fold_entries ||
                                   journal_bytes + kFoldBytesPerEntry * journal_entries >= options_.fold_bytes ||
                                   (journal_entries > 0 && monotonic >= im.next_fold));
    if (fold) im.journal.fold(im.sources);

    tx.commit();
    im.full_rewrite = false;
    im.apply_suspension_rows_changed();
    if (fold || rewrite) {
      im.journal_entries = 0;
      im.journal_bytes = 0;
      im.next_fold = monotonic + options_.fold_every.count();
      ++im.folds;
    } else {
      im.journal_entries = journal_entries;
      im.journal_bytes = journal_bytes;
    }
    im.events_written += im.unwritten_events.size();
    im.sources_written += written;
    im.sources_written_direct += direct;
    for (const ActionMark& m : im.unwritten_marks) im.applied_ids.erase(m.id);
    im.unwritten_events.clear();
    im.unwritten_marks.clear();
  } catch (const StateDbError&) {
    im.pending_actions.reset();
    ++im.round_errors;
    throw;
  }
}

std::uint64_t StatePersister::purge_now() {
  std::lock_guard lock(impl_->mutex);
  PurgeCounts counts = purge_all(impl_->db, clock_.now() - options_.retention.count(), options_.purge_batch);
  impl_->rows_purged += counts.total();
  return counts.total();
}

StatePersisterStats StatePersister::stats() const {
  StatePersisterStats s;
  s.rounds = impl_->rounds.load();
  s.round_errors = impl_->round_errors.load();
  s.sources_written = impl_->sources_written.load();
  s.events_written = impl_->events_written.load();
  s.admin_actions_applied = impl_->actions_applied.load();
  s.rows_purged = impl_->rows_purged.load();
  s.folds = impl_->folds.load();
  s.sources_written_direct = impl_->sources_written_direct.load();
  return s;
}

}  // namespace whoisd
