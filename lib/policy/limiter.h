// The abuse limiter (SPEC §4, Anexo 2.5): at most `queries` answers per source in
// any `window`, escalating suspensions for the query that would exceed it, and the
// operator actions and state export the durable store (lib/state) builds on.
//
// Semantics, precisely:
// - Granularity is one minute. A query at time t belongs to minute floor(t / 60).
//   A decision at minute m counts the answered queries of minutes m - W .. m, where
//   W = ceil(window / 60). That span always covers the whole past window (so no
//   source ever gets more than `queries` answers within ANY window of that length)
//   and reaches at most 59 s further back (so a source is refused only if it made
//   `queries` answered queries within window + 1 minute: over-blocking by at most a
//   minute, as issue 3 allows).
// - What counts: every ANSWERED query (found, no match, invalid, help — the daemon
//   calls check() once per query before parsing). The query that would exceed the
//   limit is not answered and not counted: it starts a suspension (verdict
//   limit_crossed). Queries during a suspension get `suspended` and do not count.
// - The n-th episode lasts n x suspension. Episodes are forgotten once quiet_period
//   has passed since the end of the last suspension (so a long suspension does not
//   eat into the quiet period).
// - After a suspension the window holds only the answered queries still inside it
//   — never the refused ones. With suspension >= window (the default, 24 h each)
//   that is nothing: the source starts afresh and is not instantly re-suspended.
//   With a shorter suspension the guarantee above still holds across it (which is
//   why the window is not simply emptied).
// - A wall clock that steps back: what a source's record dates later than now (its
//   answers' minutes, a suspension's start) is re-dated to now on its next decision
//   or sweep, a suspension keeping its length. So queries counted while the clock
//   was ahead leave the window a window after the correction, and a suspension
//   imposed then ends when its length has passed (not at the stepped clock's end). A
//   suspension whose end was already reported stays over (SourceState below).
// - At max_sources (a memory bound, reached only when more distinct sources queried
//   within a window than any real use makes): a new source replaces the tracked one
//   that matters least among a few sampled, one with few queries and the oldest last
//   query first; a source with a suspension, in force or past, or episodes is never
//   replaced (when every sample has one, the shard goes beyond its bound). A replaced
//   source is forgotten as if its queries had left the window; counted in
//   LimiterStats::evicted_sources.
// - Exempt sources (verdict exempt) are neither counted nor tracked: they cost no
//   memory and never appear in exports. Exempt and per-network limits are matched
//   on the client ADDRESS (not the /64 key). An exemption wins over any per-network
//   limit; among per-network limits the longest prefix wins.
// - Operator actions: suspend() sets a manual suspension ending now + duration (it
//   does not count as an episode). It never shortens a suspension in force: one that
//   ends as late or later is kept as it is, limit or manual (to shorten it, lift it
//   first); one that ends sooner is replaced, and becomes manual. lift() ends the
//   current suspension now (the episode count is kept unless asked to forget it, so
//   a relapse still escalates). The quiet period counts from the end of the last
//   suspension of either kind: a source an operator had to suspend was not quiet, so
//   its remembered episodes are kept until quiet_period after that suspension too.
//
// Thread safety: every member function may be called from any thread. The state is
// split into shards by key hash, each with its own mutex; check() locks one shard,
// prefetch() none.
// No callback is ever invoked with a lock held.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/address.h"
#include "common/clock.h"
#include "policy/source_key.h"

namespace whoisd {

struct LimiterConfig {
  std::uint32_t queries = 1000;                          // answers per source per window
  std::chrono::seconds window{24 * 3600};                // >= 60 s; rounded up to whole minutes
  std::chrono::seconds suspension{24 * 3600};            // the n-th suspension lasts n x this; > 0
  std::chrono::seconds quiet_period{30 * 24 * 3600};     // episodes forgotten after this without one
  int ipv6_prefix = 64;                                  // 1-128; fixed for the life of a Limiter
  NetworkMap<std::uint32_t> network_limits;              // own limit for a network (0 = always refused)
  std::vector<Network> exempt;                           // never limited, never counted
  // Sources tracked at most (a shard holds 1/16 of them). At the bound a new source
  // takes the place of one that matters least (see below), so that rotating through
  // IPv6 /64s or a large botnet cannot grow the limiter until the kernel kills
  // whoisd. 40-60 bytes a source with a few queries, plus a 128-256-byte record for one
  // with queries in many minutes: at the default, 80-120 MB, and at most about 600 MB.
  std::size_t max_sources = 2'000'000;
};

// The error in a configuration (naming the key and value), or nullopt when usable.
std::optional<std::string> validate(const LimiterConfig& config);

struct Decision {
  enum class Verdict : std::uint8_t {
    allow,          // answer it (it has been counted)
    exempt,         // answer it (exempt network: not counted)
    limit_crossed,  // refuse with the limit answer: this query started suspension `episode`
    suspended,      // refuse with the suspension answer; no lookup
  };
  Verdict verdict = Verdict::allow;
  SourceKey source;
  std::uint32_t limit = 0;            // the limit that applies to this source (0 when exempt)
  std::uint32_t count = 0;            // answered queries in the window, including this one if allowed
  UnixSeconds suspended_until = 0;    // limit_crossed / suspended: when answers resume
  std::uint32_t episode = 0;          // limit_crossed / suspended: episode number (0 = manual only)
  bool manual = false;                // suspended: by an operator (whoisd-admin suspend)

  bool answered() const { return verdict == Verdict::allow || verdict == Verdict::exempt; }
};

const char* to_string(Decision::Verdict verdict);  // "allow", "exempt", "limit_crossed", "suspended"

// Answered queries in one minute; minute = unix seconds / 60.
struct MinuteCount {
  std::int64_t minute = 0;
  std::uint32_t count = 0;
  friend bool operator==(const MinuteCount&, const MinuteCount&) = default;
};

// Everything the limiter knows about one source: what lib/state persists and loads.
struct SourceState {
  enum Flags : std::uint8_t {
    kManualSuspension = 1,  // the current/last suspension was set by an operator
    kExpiryReported = 2,    // the suspension_expired event for it has been emitted
  };
  SourceKey key;
  std::vector<MinuteCount> minutes;  // answered queries in the window, oldest first, counts > 0
  std::uint32_t episodes = 0;        // automatic suspensions not yet forgotten
  UnixSeconds last_episode = 0;      // when the last suspension (automatic or manual) started; 0 = never
  UnixSeconds suspended_until = 0;   // end of the current/last suspension; 0 = never
  std::uint8_t flags = 0;

  // A forgotten source: lib/state deletes its row. export_dirty() reports sources the
  // sweep forgot in this form.
  bool empty() const { return minutes.empty() && episodes == 0 && suspended_until == 0; }
  // Suspended at `now`: until its end, unless that end was already reported (a clock
  // stepped back past it does not bring it back). The limiter's own records use the
  // same rule, through the function below.
  bool suspension_in_force(UnixSeconds now) const { return suspension_in_force_at(suspended_until, flags, now); }
  static bool suspension_in_force_at(UnixSeconds until, std::uint8_t flags, UnixSeconds now) {
    return until > now && !(flags & kExpiryReported);
  }
  std::uint32_t queries_in_window() const;
  friend bool operator==(const SourceState&, const SourceState&) = default;
};

// Suspension started / expired, for the abuse log. Queued inside the limiter (bounded;
// overflow counted in LimiterStats::events_dropped) and drained by lib/state.
struct LimiterEvent {
  enum class Kind : std::uint8_t { suspension_started, suspension_expired };
  Kind kind = Kind::suspension_started;
  SourceKey source;
  UnixSeconds at = 0;       // started: the crossing query's time; expired: the suspension's end
  UnixSeconds until = 0;    // end of the suspension
  std::uint32_t episode = 0;
  std::uint32_t limit = 0;  // started: the limit that was crossed
  bool manual = false;      // expired: the suspension was an operator's
};

struct ActiveSuspension {
  SourceKey source;
  UnixSeconds since = 0;  // when it started
  UnixSeconds until = 0;
  std::uint32_t episode = 0;
  bool manual = false;
};

struct LiftResult {
  bool was_suspended = false;     // false: no suspension ended (episodes may still have been forgotten)
  UnixSeconds previous_until = 0;
  bool previous_manual = false;   // the suspension that ended was an operator's
  std::uint32_t episodes_forgotten = 0;  // forget_episodes: how many there were
  std::uint32_t episodes = 0;     // after the lift
};

struct SuspendResult {
  UnixSeconds until = 0;           // the end of the suspension in force after the call
  UnixSeconds previous_until = 0;  // 0 if it was not suspended
  bool previous_manual = false;    // the suspension in force before was an operator's
  bool kept = false;               // it ended as late or later: left as it was (until is its end)
  std::uint32_t episodes = 0;
};

// Figures for /metrics and the bench.
struct LimiterStats {
  std::size_t tracked_sources = 0;
  std::size_t heavy_sources = 0;       // sources with a heavy record (many queries or a suspension)
  std::size_t active_suspensions = 0;  // suspensions in force (one that has ended: until the next drain_events)
  std::size_t table_bytes = 0;         // the hash tables' slots
  std::size_t heavy_bytes = 0;         // heavy records in use (their arena blocks)
  std::size_t total_bytes = 0;         // everything the limiter owns (incl. the arena's free blocks)
  std::uint64_t events_dropped = 0;
  std::uint64_t evicted_sources = 0;   // replaced by a new source at max_sources, since the start
  std::size_t max_sources = 0;         // the configured bound
  // Tables grown (since the start) by the grower's thread, and by the thread that
  // inserted a source: a small table, or a large one that reached 90 % load first.
  std::uint64_t growths_off_loop = 0;
  std::uint64_t growths_by_inserter = 0;
};

class Limiter {
 public:
  // Throws std::invalid_argument with validate()'s message for an unusable config.
  Limiter(LimiterConfig config, const Clock& clock);
  ~Limiter();
  Limiter(const Limiter&) = delete;
  Limiter& operator=(const Limiter&) = delete;

  // The hot path: counts the query (unless exempt or suspended) and decides.
  Decision check(const IpAddress& client);

  // Starts loading the client's hash slot into the cache, changing nothing, so that
  // a check() for it a little later does not wait for memory: across a million
  // sources that slot is a cache miss (~160-230 ns on the development VM), most of a
  // decision. The daemon calls it when it accepts a connection, a whole recv() and
  // line parse before check(). Takes no lock and reads no configuration beyond the
  // IPv6 prefix; any address is fine (an exempt one just loads a slot for nothing).
  void prefetch(const IpAddress& client) const noexcept;

  // The key a client address counts against, without counting anything.
  SourceKey key_of(const IpAddress& client) const;
  // Whether every address of `source` is exempt ([limits] exempt). An operator's
  // suspension of such a source would never be consulted (an exempt query is answered
  // before any lookup), so lib/state refuses it rather than report it imposed.
  bool exempt(const SourceKey& source) const;

  // ---- operator actions (whoisd-admin via lib/state) ----
  LiftResult lift(const SourceKey& source, bool forget_episodes = false);
  // duration > 0; throws std::invalid_argument otherwise.
  SuspendResult suspend(const SourceKey& source, std::chrono::seconds duration);

  // ---- persistence (lib/state) ----
  // Calls sink for every source changed since the last export_dirty(), including
  // sources forgotten by sweep() (as an empty() state). Returns how many. Called from
  // lib/state's own thread; sink runs with no lock held, so it may do I/O.
  // Since it runs every second off the event loops, it also faults in the memory the
  // next heavy records will take (RecordArena::prefault_spare), so that a loop does
  // not stall for milliseconds on a fresh huge page when a record grows.
  std::size_t export_dirty(const std::function<void(const SourceState&)>& sink);
  // Every tracked source (for a full rewrite), once: at least every source tracked from
  // the call's start to its end. It takes a shard's lock a chunk at a time, so sources
  // may come, change or go meanwhile; those are marked dirty, for the next
  // export_dirty(). Does not clear dirty marks.
  std::size_t export_all(const std::function<void(const SourceState&)>& sink);
  // Restores one source (at start, before serving). Replaces what is there; not
  // marked dirty. Returns false (and changes nothing) for a key this limiter cannot
  // hold: an IPv6 key of another prefix length than the configured one.
  bool import(const SourceState& state);
  // The state of one source, as export would give it (nullopt: not tracked).
  std::optional<SourceState> inspect(const SourceKey& source) const;

  // ---- abuse events ----
  // Moves queued events into `out` (appending), first noticing suspensions that have
  // expired. Returns how many were appended.
  std::size_t drain_events(std::vector<LimiterEvent>& out);
  // Suspensions in force now, ordered by source.
  std::vector<ActiveSuspension> active_suspensions() const;

  // ---- housekeeping ----
  // Examines at most max_items table slots (continuing where the last call stopped)
  // and forgets sources whose state can no longer matter: nothing in the window, no
  // suspension in force or unreported, no episode within quiet_period. Returns how
  // many were forgotten. Bounded work, so an event-loop timer may call it.
  std::size_t sweep(std::size_t max_items);
  // How the daemon calls it: kSweepSlots slots every kSweepPeriod, 20,000 a second (a
  // pass over 2 million sources' tables takes about two and a half minutes). Small calls
  // often rather than 20,000 slots once a second: a call holds a shard's lock
  // throughout, and during a mass departure (a flood's sources forgotten a day later)
  // a call of 20,000 took 1-4 ms; the worst decision beside it fell from 1.2-2.2 ms to
  // 0.35-1.0 ms with 2,000 (bench/README, round 29).
  static constexpr std::size_t kSweepSlots = 2'000;
  static constexpr std::chrono::milliseconds kSweepPeriod{100};

  // Live reload. Throws std::invalid_argument (keeping the old config) if unusable.
  // ipv6_prefix cannot change while running (keys are built with it): a different
  // value is ignored and a warning returned; all else applies to the next decision.
  std::vector<std::string> reconfigure(LimiterConfig config);
  int ipv6_prefix() const;

  std::size_t tracked_sources() const;
  LimiterStats stats() const;

  // 16, not more: at 1,000,000 sources a shard's table is then ~3 MB, big enough for
  // huge pages (huge_page_allocator.h), which made decisions ~20 % faster there; the
  // price is a longer lock hold when one table grows (1/16 of the sources rehashed).
  static constexpr std::size_t kShards = 16;
  static constexpr std::size_t kMaxQueuedEvents = 65536;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace whoisd
