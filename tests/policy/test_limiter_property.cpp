// The limiter against a brute-force reference, over weeks of simulated time and
// many sources, with random configurations, sweeps, and restarts through
// export/import. The reference keeps every answer's exact time and checks the two
// promises of issue 3 in real (second) time, not in the limiter's minutes:
//   safety:   no source ever gets more than `limit` answers within any window;
//   liveness: a source that is not suspended and made fewer than `limit` answered
//             queries within window + 1 minute (the allowed over-blocking) is answered.
// plus the suspension rules exactly: the crossing query starts episode n lasting
// n x suspension, suspended queries get `suspended` and do not count, episodes are
// forgotten after quiet_period.
#include <catch2/catch.hpp>

#include <deque>
#include <map>
#include <limits>
#include <random>
#include <set>

#include "policy/limiter.h"

using namespace whoisd;
using Verdict = Decision::Verdict;

namespace {

struct Reference {
  std::deque<UnixSeconds> answers;  // times of answered queries, oldest first
  UnixSeconds suspended_until = 0;
  std::uint32_t episodes = 0;
};

std::uint32_t answers_since(const Reference& r, UnixSeconds from) {  // answers at times >= from
  std::uint32_t n = 0;
  for (auto it = r.answers.rbegin(); it != r.answers.rend() && *it >= from; ++it) ++n;
  return n;
}

void run_property(std::uint64_t seed, int queries, bool restarts) {
  std::mt19937_64 rng(seed);
  auto uniform = [&](std::int64_t lo, std::int64_t hi) { return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng); };

  LimiterConfig config;
  config.queries = static_cast<std::uint32_t>(uniform(1, 12));
  config.window = std::chrono::seconds(60 * uniform(1, 240));  // whole minutes, as configured in practice
  config.suspension = std::chrono::seconds(uniform(1, 6 * 3600));
  config.quiet_period = std::chrono::seconds(uniform(0, 24 * 3600));
  config.ipv6_prefix = 64;
  const std::int64_t window = config.window.count();
  INFO("seed " << seed << ": queries " << config.queries << ", window " << window << " s, suspension "
               << config.suspension.count() << " s, quiet " << config.quiet_period.count() << " s");

  ManualClock clock(1'767'225'600 + uniform(0, 59));
  auto limiter = std::make_unique<Limiter>(config, clock);

  // 60 sources: IPv4 ones, and IPv6 ones reached through different addresses of one /64.
  std::vector<IpAddress> clients;
  for (int i = 0; i < 40; ++i) clients.push_back(IpAddress::v4(0xC0000200u + static_cast<std::uint32_t>(i)));
  std::map<SourceKey, Reference> reference;
  auto client_for = [&](int source) -> IpAddress {
    if (source < 40) return clients[source];
    std::array<std::uint8_t, 16> b{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, static_cast<std::uint8_t>(source)};
    for (int i = 8; i < 16; ++i) b[i] = static_cast<std::uint8_t>(rng());
    return IpAddress::v6(b);
  };

  std::int64_t checked_allow = 0, checked_cross = 0, checked_suspended = 0;
  for (int q = 0; q < queries; ++q) {
    // Time moves in bursts and lulls: ~30 s a query on average, weeks in all.
    auto roll = uniform(0, 999);
    if (roll < 800) clock.advance(uniform(0, 3));
    else if (roll < 970) clock.advance(uniform(0, 120));
    else if (roll < 995) clock.advance(uniform(0, 1200));
    else clock.advance(uniform(0, 3 * 3600));
    const UnixSeconds now = clock.now();

    // A few hot sources make most queries.
    int source = uniform(0, 3) == 0 ? static_cast<int>(uniform(0, 59)) : static_cast<int>(uniform(0, 5)) * 10;
    IpAddress client = client_for(source);
    limiter->prefetch(client);  // as the daemon does at accept: must change nothing
    Decision d = limiter->check(client);
    Reference& r = reference[source_key(client, 64)];
    REQUIRE(d.source == source_key(client, 64));
    REQUIRE(d.limit == config.queries);

    if (now < r.suspended_until) {
      REQUIRE(d.verdict == Verdict::suspended);
      REQUIRE(d.suspended_until == r.suspended_until);
      REQUIRE(d.episode == r.episodes);
      ++checked_suspended;
    } else if (d.verdict == Verdict::allow) {
      // safety: with this answer, at most `limit` answers in (now - window, now]
      REQUIRE(answers_since(r, now - window + 1) + 1 <= config.queries);
      r.answers.push_back(now);
      REQUIRE(d.count >= answers_since(r, now - window + 1));
      // The count is exactly the answers of minutes m - W .. m (for a source never
      // suspended: a suspension drops answers the reference keeps), and what the
      // decision saw (for a heavy source, its slot's cache) agrees with the state
      // export reads from the record.
      if (r.suspended_until == 0) REQUIRE(d.count == answers_since(r, (now / 60 - window / 60) * 60));
      auto state = limiter->inspect(d.source);
      REQUIRE(state);
      REQUIRE(d.count == state->queries_in_window());
      ++checked_allow;
    } else {
      REQUIRE(d.verdict == Verdict::limit_crossed);
      // liveness: refused only if `limit` answers within window + 1 minute
      REQUIRE(answers_since(r, now - window - 59) + 1 > config.queries);
      if (r.episodes && r.suspended_until + config.quiet_period.count() <= now) r.episodes = 0;
      ++r.episodes;
      r.suspended_until = now + r.episodes * config.suspension.count();
      REQUIRE(d.episode == r.episodes);
      REQUIRE(d.suspended_until == r.suspended_until);
      ++checked_cross;
    }
    while (!r.answers.empty() && r.answers.front() < now - window - 600) r.answers.pop_front();

    if (q % 97 == 0) limiter->sweep(static_cast<std::size_t>(uniform(1, 300)));
    if (restarts && q % 5003 == 5002) {
      // A restart: everything goes through export and import into a new limiter.
      auto fresh = std::make_unique<Limiter>(config, clock);
      std::size_t kept = 0;
      limiter->export_all([&](const SourceState& s) {
        REQUIRE(fresh->import(s));
        if (!s.empty()) ++kept;
      });
      // Import keeps at most the non-empty states: it drops those that no longer matter
      // (say, an ended suspension with its episodes forgotten); decisions must not change.
      REQUIRE(fresh->tracked_sources() <= kept);
      REQUIRE(fresh->tracked_sources() > 0);
      limiter = std::move(fresh);
    }
  }
  // The run must have exercised every verdict, or it proves little.
  CHECK(checked_allow > 0);
  CHECK(checked_cross > 0);
  CHECK(checked_suspended > 0);
}

}  // namespace

TEST_CASE("property: never more than the limit in any window, never refused below it") {
  for (std::uint64_t seed = 1; seed <= 12; ++seed) run_property(seed, 60000, /*restarts=*/false);
}

TEST_CASE("property: the same across restarts through export and import") {
  for (std::uint64_t seed = 101; seed <= 106; ++seed) run_property(seed, 60000, /*restarts=*/true);
}

// ---- clock steps, eviction at max_sources, operator actions, exports and restarts ----
//
// The limiter driven through random sequences of queries (a few hot sources, many
// cold ones), time passing, wall-clock steps back and forward (a forward step is
// corrected later), operator suspend()/lift(), sweeps with random budgets, exports and
// restarts, checking after every step what must hold whatever the clock does:
//   - an answer's count is the record's (the slot's cache agrees with the record);
//   - after a source's own decision, and for every source after a full sweep, its
//     state dates nothing later than now (no minute after now's, no suspension start
//     after now), and no suspension ends before it starts;
//   - re-dating keeps a suspension's length;
//   - tracked_sources() <= max_sources while fewer sources have ever been suspended
//     than a shard holds (then every eviction sample has a source it may replace);
//   - a suspension in force (not lifted, not ended) is never forgotten: its source
//     keeps getting `suspended` until its end, the re-dated end after a step back;
//   - a source export_dirty() reports forgotten is not tracked, or holds nothing that
//     matters (answers that left the window, not yet swept), until it queries again;
// and, in runs without clock steps or eviction, the promise of the reference above:
// never more than `limit` answers within any window.
namespace {

struct ModelSuspension {
  UnixSeconds start = 0;  // as the limiter dates it (re-dated when the clock stepped back)
  UnixSeconds until = 0;
  bool active = false;    // in force as far as the model knows: not lifted, end not reached
};

struct StepStats {
  std::int64_t steps = 0, queries = 0, allows = 0, crossings = 0, enforced = 0, evictions = 0, bound_checks = 0,
               steps_back = 0, redated = 0, forgotten_exports = 0, restarts = 0;
};

void run_clock_property(std::uint64_t seed, int steps, bool clock_steps, bool evict, StepStats& total) {
  std::mt19937_64 rng(seed);
  auto uniform = [&](std::int64_t lo, std::int64_t hi) { return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng); };

  LimiterConfig config;
  config.queries = static_cast<std::uint32_t>(uniform(3, 10));
  // With eviction, long windows: many more cold sources query within one than are tracked.
  config.window = std::chrono::seconds(60 * (evict ? uniform(30, 120) : uniform(2, 120)));
  config.suspension = std::chrono::seconds(uniform(30, 2 * 3600));
  config.quiet_period = std::chrono::seconds(uniform(0, 12 * 3600));
  config.ipv6_prefix = 64;
  const std::size_t per_shard = static_cast<std::size_t>(uniform(4, 8));
  config.max_sources = evict ? Limiter::kShards * per_shard : 1'000'000;
  const std::int64_t window = config.window.count();
  INFO("seed " << seed << ": queries " << config.queries << ", window " << window << " s, suspension "
               << config.suspension.count() << " s, quiet " << config.quiet_period.count() << " s, max_sources "
               << config.max_sources << (clock_steps ? ", clock steps" : ""));

  ManualClock clock(1'767'225'600 + uniform(0, 59));
  auto limiter = std::make_unique<Limiter>(config, clock);

  // Three hot sources (two IPv4, one IPv6 /64 reached through changing addresses) and
  // 3000 cold ones.
  auto client_for = [&](int source) -> IpAddress {
    if (source < 2) return IpAddress::v4(0xC6336401u + static_cast<std::uint32_t>(source));
    if (source == 2) {
      std::array<std::uint8_t, 16> b{0x20, 0x01, 0x0d, 0xb8, 0xff, 0, 0, 1};
      for (int i = 8; i < 16; ++i) b[i] = static_cast<std::uint8_t>(rng());
      return IpAddress::v6(b);
    }
    if (source % 2) return IpAddress::v4(0x0A000000u + static_cast<std::uint32_t>(source));
    std::array<std::uint8_t, 16> b{0x20, 0x01, 0x0d, 0xb8, 0, 0, static_cast<std::uint8_t>(source >> 8),
                                   static_cast<std::uint8_t>(source)};
    b[15] = static_cast<std::uint8_t>(rng());
    return IpAddress::v6(b);
  };
  auto pick_source = [&] { return uniform(0, 9) < 4 ? static_cast<int>(uniform(0, 2)) : static_cast<int>(uniform(3, 3002)); };
  auto key_for = [&](int source) { return source_key(client_for(source), 64); };

  std::map<SourceKey, ModelSuspension> model;
  std::set<SourceKey> ever_suspended;          // every source that may be protected from eviction
  std::set<SourceKey> reported_forgotten;      // exported empty and not queried since
  std::map<SourceKey, std::deque<UnixSeconds>> answers;  // the limit's reference (runs without steps)
  std::int64_t ahead = 0;                      // how far a forward step put the clock, to correct later

  // The state of one source must date nothing later than now.
  auto check_dated = [&](const SourceState& s, UnixSeconds now) {
    INFO(to_string(s.key) << " at " << now);
    for (const auto& mc : s.minutes) REQUIRE(mc.minute <= now / 60);
    REQUIRE(s.last_episode <= now);
  };
  auto check_consistent = [&](const SourceState& s) {
    INFO(to_string(s.key) << ": last_episode " << s.last_episode << ", suspended_until " << s.suspended_until);
    if (s.suspended_until != 0) REQUIRE(s.last_episode <= s.suspended_until);  // never ends before it starts
  };

  // After every step: the model's suspensions against the limiter's records.
  auto check_model = [&](UnixSeconds now) {
    for (auto it = model.begin(); it != model.end();) {
      auto& [key, m] = *it;
      // Ended (by time passing or a forward step) or lifted: nothing more to require.
      if (!m.active || m.until <= now) {
        it = model.erase(it);
        continue;
      }
      ++it;
      INFO(to_string(key) << ": model start " << m.start << ", until " << m.until << ", now " << now);
      auto st = limiter->inspect(key);
      REQUIRE(st);  // a suspension in force is never forgotten, by eviction or anything else
      REQUIRE(st->suspension_in_force(now));
      // Re-dated (by a sweep, say): moved earlier, to a time not after now, its length kept.
      REQUIRE(st->suspended_until - st->last_episode == m.until - m.start);
      if (st->last_episode != m.start) {
        REQUIRE(st->last_episode < m.start);
        REQUIRE(st->last_episode <= now);
        m.until = st->suspended_until;
        m.start = st->last_episode;
      }
    }
  };

  StepStats st;
  const auto evicted_before = limiter->stats().evicted_sources;
  std::uint64_t evicted_so_far = 0;
  for (int step = 0; step < steps; ++step) {
    ++st.steps;
    const auto roll = uniform(0, 999);
    INFO("step " << step << " (roll " << roll << ") at " << clock.now() << ", ahead " << ahead);
    if (roll < 700) {
      // ---- a query, after a little time ----
      auto t = uniform(0, 99);
      // With eviction, time moves slowly: hundreds of cold sources query within a window.
      if (evict)
        clock.advance(t < 85 ? uniform(0, 4) : t < 98 ? uniform(0, 60) : uniform(0, 1800));
      else
        clock.advance(t < 85 ? uniform(0, 20) : t < 98 ? uniform(0, 600) : uniform(0, 3 * 3600));
      const int source = pick_source();
      // A hot source now and then makes a burst, so that even short windows see crossings.
      for (int burst = source < 3 && uniform(0, 5) == 0 ? static_cast<int>(uniform(2, 12)) : 1; burst > 0; --burst) {
      if (burst > 1) clock.advance(uniform(0, 2));
      const UnixSeconds now = clock.now();
      const IpAddress client = client_for(source);
      const Decision d = limiter->check(client);
      ++st.queries;
      REQUIRE(d.source == key_for(source));
      reported_forgotten.erase(d.source);
      auto state = limiter->inspect(d.source);
      REQUIRE(state);  // it has just been decided on
      check_dated(*state, now);
      check_consistent(*state);
      ModelSuspension& m = model[d.source];
      // What the limiter re-dates at a decision: a suspension that started later than now.
      if (m.active && m.start > now) {
        m.until -= m.start - now;
        m.start = now;
      }
      const bool enforced = m.active && m.until > now;
      INFO("query " << step << " from " << to_string(d.source) << " at " << now << ": " << to_string(d.verdict)
                    << " count " << d.count << " until " << d.suspended_until << "; model active " << m.active
                    << " start " << m.start << " until " << m.until);
      if (enforced) {
        REQUIRE(d.verdict == Verdict::suspended);
        REQUIRE(d.suspended_until == m.until);
        ++st.enforced;
      }
      switch (d.verdict) {
        case Verdict::allow: {
          ++st.allows;
          REQUIRE(d.count == state->queries_in_window());
          if (!clock_steps && !evict) {
            auto& a = answers[d.source];
            a.push_back(now);
            while (a.front() <= now - window) a.pop_front();
            REQUIRE(a.size() <= config.queries);  // the limit, in any window (the one ending now)
          }
          break;
        }
        case Verdict::limit_crossed:
          ++st.crossings;
          REQUIRE(d.suspended_until > now);
          m = ModelSuspension{now, d.suspended_until, true};
          ever_suspended.insert(d.source);
          REQUIRE(state->last_episode == now);
          REQUIRE(state->suspended_until == d.suspended_until);
          break;
        case Verdict::suspended:
          REQUIRE(d.suspended_until > now);
          REQUIRE(state->suspended_until == d.suspended_until);
          if (!enforced) {  // one the model had let go (a step back before an unreported end): follow it
            m = ModelSuspension{state->last_episode, state->suspended_until, true};
          }
          break;
        case Verdict::exempt:
          FAIL("nothing is exempt");
      }
      }
    } else if (roll < 760) {
      // ---- the wall clock steps ----
      if (!clock_steps) {
        clock.advance(uniform(0, 300));
      } else if (ahead > 0 && uniform(0, 1)) {
        clock.step(-ahead);  // corrected
        ahead = 0;
        ++st.steps_back;
        // An export made while ahead reports forgotten a source whose answers had left
        // the window by the stepped clock but were not yet swept: after the correction
        // they are in the window again (as they would be for a source never exported).
        reported_forgotten.clear();
      } else if (uniform(0, 2) == 0) {
        clock.step(-uniform(1, 90));  // a small step back (NTP at boot)
        ++st.steps_back;
        reported_forgotten.clear();
      } else if (ahead == 0) {
        ahead = uniform(0, 1) ? uniform(1, 300) : uniform(3600, 20 * 86400);
        clock.step(ahead);
      }
    } else if (roll < 800) {
      // ---- an operator's suspension ----
      const UnixSeconds now = clock.now();
      // With eviction, the hot sources only: the bound is checked while few are protected.
      const int source = evict || uniform(0, 4) ? static_cast<int>(uniform(0, 2)) : pick_source();
      const SourceKey key = key_for(source);
      const auto duration = std::chrono::seconds(uniform(1, 3 * 3600));
      ModelSuspension& m = model[key];
      if (m.active && m.start > now) {  // suspend() re-dates first, like a decision
        m.until -= m.start - now;
        m.start = now;
      }
      const bool enforced = m.active && m.until > now;
      const SuspendResult r = limiter->suspend(key, duration);
      ever_suspended.insert(key);
      reported_forgotten.erase(key);
      auto state = limiter->inspect(key);
      REQUIRE(state);
      // Not check_dated: suspend() re-dates the suspension it compares with, but a
      // source held inline keeps its answers' minutes until its next decision or sweep.
      REQUIRE(state->last_episode <= now);
      check_consistent(*state);
      INFO("suspend " << to_string(key) << " for " << duration.count() << " s at " << now << ": until " << r.until
                      << (r.kept ? " (kept)" : "") << "; model active " << m.active << " until " << m.until);
      if (enforced && m.until >= now + duration.count()) {
        REQUIRE(r.kept);
        REQUIRE(r.until == m.until);
      } else if (!r.kept) {
        REQUIRE(r.until == now + duration.count());
      }
      REQUIRE(state->suspended_until == r.until);
      m = ModelSuspension{state->last_episode, r.until, true};
    } else if (roll < 815) {
      // ---- an operator's lift ----
      const SourceKey key = key_for(uniform(0, 3) ? static_cast<int>(uniform(0, 2)) : pick_source());
      const LiftResult r = limiter->lift(key, uniform(0, 3) == 0);
      model[key].active = false;
      // A lift ends the suspension early, but the crossing already dropped the answers
      // that would have left the window by its end (so that the source starts afresh
      // then): the lifted source starts afresh now. The reference does the same.
      if (r.was_suspended) answers.erase(key);
      if (auto state = limiter->inspect(key)) {
        check_consistent(*state);
        REQUIRE_FALSE(state->suspension_in_force(clock.now()));
      }
    } else if (roll < 900) {
      // ---- a sweep: a few slots, or now and then a whole pass ----
      const UnixSeconds now = clock.now();
      if (uniform(0, 9)) {
        limiter->sweep(static_cast<std::size_t>(uniform(1, 200)));
      } else {
        limiter->sweep(std::numeric_limits<std::size_t>::max());
        std::size_t n = limiter->export_all([&](const SourceState& s) {
          check_dated(s, now);
          check_consistent(s);
        });
        REQUIRE(n == limiter->tracked_sources());
      }
    } else if (roll < 960) {
      // ---- the state writer's round ----
      std::vector<SourceKey> forgotten;
      limiter->export_dirty([&](const SourceState& s) {
        check_consistent(s);
        if (s.empty()) forgotten.push_back(s.key);
      });
      for (const auto& key : forgotten) {
        ++st.forgotten_exports;
        auto state = limiter->inspect(key);
        INFO(to_string(key) << " exported forgotten");
        if (state) REQUIRE(state->empty());  // still tracked: only what no longer matters
        reported_forgotten.insert(key);
      }
      std::vector<LimiterEvent> events;
      if (uniform(0, 1)) limiter->drain_events(events);
    } else if (roll < 965) {
      // ---- a restart: everything through export_all() and import() into a new limiter ----
      auto fresh = std::make_unique<Limiter>(config, clock);
      limiter->export_all([&](const SourceState& s) {
        check_consistent(s);
        REQUIRE(fresh->import(s));
      });
      REQUIRE(fresh->tracked_sources() <= limiter->tracked_sources());
      evicted_so_far += limiter->stats().evicted_sources;
      limiter = std::move(fresh);
      ++st.restarts;
    } else {
      clock.advance(uniform(0, evict ? 120 : 1800));
    }

    const UnixSeconds now = clock.now();
    check_model(now);
    // The bound holds while a sample can always find a source it may replace: fewer
    // sources ever suspended (or with episodes) than a shard holds.
    if (evict && ever_suspended.size() < per_shard) {
      ++st.bound_checks;
      REQUIRE(limiter->tracked_sources() <= config.max_sources);
    }
    if (step % 256 == 0) {
      for (const auto& key : reported_forgotten) {
        auto state = limiter->inspect(key);
        INFO(to_string(key) << " exported forgotten, not queried since");
        if (state) {
          CAPTURE(state->queries_in_window(), state->suspended_until, state->episodes);
          REQUIRE(state->empty());
        }
      }
    }
  }
  st.evictions = static_cast<std::int64_t>(evicted_so_far + limiter->stats().evicted_sources - evicted_before);
  if (evict) CHECK(st.evictions > 0);
  CHECK(st.crossings > 0);
  CHECK(st.enforced > 0);
  if (clock_steps) CHECK(st.steps_back > 0);
  total.steps += st.steps;
  total.queries += st.queries;
  total.allows += st.allows;
  total.crossings += st.crossings;
  total.enforced += st.enforced;
  total.evictions += st.evictions;
  total.bound_checks += st.bound_checks;
  total.steps_back += st.steps_back;
  total.forgotten_exports += st.forgotten_exports;
  total.restarts += st.restarts;
}

}  // namespace

TEST_CASE("property: clock steps, eviction at max_sources, operator actions and restarts keep the records consistent") {
  StepStats total;
  for (std::uint64_t seed = 201; seed <= 206; ++seed) run_clock_property(seed, 25000, /*clock_steps=*/true, /*evict=*/true, total);
  for (std::uint64_t seed = 211; seed <= 212; ++seed) run_clock_property(seed, 25000, /*clock_steps=*/false, /*evict=*/true, total);
  for (std::uint64_t seed = 221; seed <= 222; ++seed) run_clock_property(seed, 25000, /*clock_steps=*/true, /*evict=*/false, total);
  // Without clock steps or eviction: the limit itself (checked at every answer).
  for (std::uint64_t seed = 231; seed <= 233; ++seed) run_clock_property(seed, 25000, /*clock_steps=*/false, /*evict=*/false, total);
  WARN("steps " << total.steps << ", queries " << total.queries << ", answers " << total.allows << ", crossings "
                << total.crossings << ", suspensions enforced " << total.enforced << ", evictions " << total.evictions
                << ", bound checks " << total.bound_checks << ", steps back " << total.steps_back
                << ", forgotten exports " << total.forgotten_exports << ", restarts " << total.restarts);
}
