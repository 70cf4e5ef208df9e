// The limiter's state in the state database: it survives a restart and a kill -9
// (at most the last second lost), suspensions and expiries reach the abuse log, and
// operators' commands queued in admin_actions reach the limiter.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <limits>
#include <thread>

#include "common/log.h"
#include "policy/limiter.h"
#include "state/query_counts.h"
#include "state/query_log.h"
#include "state/retention.h"
#include "state/state_db.h"
#include "state/state_persister.h"
#include "state/state_reports.h"
#include "state_test_util.h"
#include "support/captured_stderr.h"
#include "support/temp_dir.h"
#include "support/test_address.h"

using namespace std::chrono_literals;
using whoisd::Decision;
using whoisd::IpAddress;
using whoisd::Limiter;
using whoisd::LimiterConfig;
using whoisd::ManualClock;
using whoisd::StateDb;
using whoisd::StatePersister;
using whoisd::test::sql_exec;
using whoisd::test::sql_int;
using whoisd::test::sql_text;
using whoisd::test::stored_int;
using whoisd::test::TempDir;
using whoisd::test::ip;
using whoisd::test::LoadedPersister;
using whoisd::test::new_state;

namespace {

LimiterConfig small_limits(std::uint32_t queries = 10) {
  LimiterConfig c;
  c.queries = queries;
  return c;
}

Decision::Verdict run(Limiter& limiter, const char* client, int queries) {
  Decision d;
  for (int i = 0; i < queries; ++i) d = limiter.check(ip(client));
  return d.verdict;
}

std::int64_t queue(const std::string& path, const std::string& action, const std::string& source, int hours,
                   const std::string& reason, bool forget_episodes = false) {
  StateDb db = StateDb::open(path, StateDb::Mode::read_write);
  whoisd::AdminAction a;
  a.requested_at = 1;
  a.action = action;
  a.source = source;
  a.hours = hours;
  a.forget_episodes = forget_episodes;
  a.reason = reason;
  a.operator_name = "maria";
  return whoisd::queue_admin_action(db, a);
}

}  // namespace

TEST_CASE("counts, episodes and suspensions survive a restart", "[state][persister]") {
  TempDir dir;
  std::string path = new_state(dir);
  ManualClock clock;
  std::optional<whoisd::SourceState> busy, crossed, v6, manual;
  {
    Limiter limiter(small_limits(), clock);
    StatePersister persister(path, limiter, clock);
    persister.load();
    CHECK(run(limiter, "192.0.2.1", 7) == Decision::Verdict::allow);
    clock.advance(120);
    CHECK(run(limiter, "192.0.2.1", 2) == Decision::Verdict::allow);
    CHECK(run(limiter, "198.51.100.7", 11) == Decision::Verdict::limit_crossed);  // episode 1
    CHECK(run(limiter, "2001:db8:5:6::1", 3) == Decision::Verdict::allow);
    CHECK(run(limiter, "2001:db8:5:6:ffff::2", 2) == Decision::Verdict::allow);  // the same /64
    limiter.suspend(*whoisd::parse_source_key("203.0.113.5", 64), 5h);
    persister.round();
    busy = limiter.inspect(limiter.key_of(ip("192.0.2.1")));
    crossed = limiter.inspect(limiter.key_of(ip("198.51.100.7")));
    v6 = limiter.inspect(limiter.key_of(ip("2001:db8:5:6::")));
    manual = limiter.inspect(limiter.key_of(ip("203.0.113.5")));
    REQUIRE(busy);
    REQUIRE(crossed);
    REQUIRE(v6);
    REQUIRE(manual);
    CHECK(busy->queries_in_window() == 9);
    CHECK(crossed->episodes == 1);
    CHECK(v6->queries_in_window() == 5);
    persister.stop();
  }
  CHECK(sql_int(path, "SELECT count(*) FROM source_state") == 4);
  CHECK(sql_int(path, "SELECT count(*) FROM abuse_events WHERE kind = 'suspension_started' AND source = "
                      "'198.51.100.7' AND episode = 1") == 1);

  // "Restart": a new limiter and persister on the same file.
  Limiter limiter(small_limits(), clock);
  StatePersister persister(path, limiter, clock);
  auto summary = persister.load();
  CHECK(summary.sources == 4);
  CHECK(summary.active_suspensions == 2);
  CHECK(limiter.inspect(busy->key) == busy);
  CHECK(limiter.inspect(crossed->key) == crossed);
  CHECK(limiter.inspect(v6->key) == v6);
  CHECK(limiter.inspect(manual->key) == manual);
  // The restored counts and suspensions decide as before the restart.
  CHECK(run(limiter, "192.0.2.1", 1) == Decision::Verdict::allow);  // 10th
  CHECK(run(limiter, "192.0.2.1", 1) == Decision::Verdict::limit_crossed);
  Decision d = limiter.check(ip("198.51.100.7"));
  CHECK(d.verdict == Decision::Verdict::suspended);
  CHECK(d.episode == 1);
  CHECK(limiter.check(ip("203.0.113.5")).verdict == Decision::Verdict::suspended);

  // Escalation carries across restarts: after the first 24 h suspension, the second lasts 48 h.
  clock.advance(24 * 3600 + 60);
  CHECK(run(limiter, "198.51.100.7", 10) == Decision::Verdict::allow);
  d = limiter.check(ip("198.51.100.7"));
  CHECK(d.verdict == Decision::Verdict::limit_crossed);
  CHECK(d.episode == 2);
  CHECK(d.suspended_until == clock.now() + 48 * 3600);
  persister.stop();
  Limiter again(small_limits(), clock);
  StatePersister(path, again, clock).load();
  d = again.check(ip("198.51.100.7"));
  CHECK(d.verdict == Decision::Verdict::suspended);
  CHECK(d.episode == 2);
  CHECK(d.suspended_until == clock.now() + 48 * 3600);
}

TEST_CASE("suspensions started and expired reach the abuse log; forgotten sources leave the table",
          "[state][persister]") {
  LoadedPersister setup(small_limits(3));
  auto& [dir, path, clock, limiter, persister] = setup;
  const whoisd::UnixSeconds start = clock.now();
  CHECK(run(limiter, "192.0.2.44", 4) == Decision::Verdict::limit_crossed);
  CHECK(run(limiter, "192.0.2.45", 1) == Decision::Verdict::allow);
  persister.round();
  // Both stored: the suspended one straight in source_state, which whoisd-admin's
  // views read; the other in the round's journal record until the next fold.
  CHECK(stored_int(path, "SELECT count(*) FROM source_state") == 2);
  CHECK(sql_int(path, "SELECT count(*) FROM source_state") == 1);
  CHECK(sql_int(path, "SELECT sum(entries) FROM source_journal") == 2);
  CHECK(sql_int(path, "SELECT until FROM abuse_events WHERE kind = 'suspension_started'") == start + 24 * 3600);
  CHECK(sql_text(path, "SELECT reason FROM abuse_events WHERE kind = 'suspension_started'") ==
        "limit of 3 queries crossed");
  {
    StateDb db = StateDb::open(path, StateDb::Mode::read_only);
    auto active = whoisd::active_suspensions(db, clock.now());
    REQUIRE(active.size() == 1);
    CHECK(active[0].source == "192.0.2.44");
    CHECK(active[0].episodes == 1);
    CHECK(active[0].until == start + 24 * 3600);
    CHECK_FALSE(active[0].manual);
  }
  clock.advance(24 * 3600 + 1);
  {
    whoisd::test::CapturedStderr log;
    persister.round();
    // The daemon's log has the end as it has the start (no query marks it there).
    CHECK_THAT(log.text(), Catch::Contains("event=suspension_expired source=192.0.2.44 episode=1 ended=" +
                                           whoisd::log::iso8601_utc(start + 24 * 3600) + " kind=limit"));
  }
  CHECK(sql_int(path, "SELECT time FROM abuse_events WHERE kind = 'suspension_expired' AND source = '192.0.2.44'") ==
        start + 24 * 3600);
  // 192.0.2.45's query has left the window and it never had an episode: once the
  // limiter forgets it, so does the table.
  clock.advance(3600);
  limiter.sweep(1'000'000);
  persister.round();
  CHECK(stored_int(path, "SELECT count(*) FROM source_state WHERE source = '192.0.2.45'") == 0);
  CHECK(stored_int(path, "SELECT count(*) FROM source_state WHERE source = '192.0.2.44'") == 1);  // episode kept
  CHECK(sql_int(path, "SELECT count(*) FROM source_state WHERE source = '192.0.2.44'") == 1);
  // ... until the quiet period passes.
  clock.advance(31 * 86400);
  limiter.sweep(1'000'000);
  persister.round();
  CHECK(stored_int(path, "SELECT count(*) FROM source_state") == 0);
  // The source with suspension fields left source_state at once (not only at a fold).
  CHECK(sql_int(path, "SELECT count(*) FROM source_state WHERE source = '192.0.2.44'") == 0);
}

TEST_CASE("after a failed round source_state is rewritten to what the limiter holds, forgotten sources gone",
          "[state][persister]") {
  LoadedPersister setup(small_limits(3));
  auto& [dir, path, clock, limiter, persister] = setup;
  CHECK(run(limiter, "192.0.2.44", 4) == Decision::Verdict::limit_crossed);
  CHECK(run(limiter, "192.0.2.45", 1) == Decision::Verdict::allow);
  persister.round();
  clock.advance(61);
  persister.round();  // the fold: both rows in source_state itself
  REQUIRE(sql_int(path, "SELECT count(*) FROM source_state") == 2);

  // The disk fails for the round in which the limiter has forgotten 192.0.2.45 (its
  // query out of the window, no episode); its mark goes with the failed round.
  clock.advance(25 * 3600);
  limiter.sweep(1'000'000);
  REQUIRE_FALSE(limiter.inspect(limiter.key_of(ip("192.0.2.45"))));
  whoisd::test::sql_exec(path, "CREATE TRIGGER fail BEFORE INSERT ON source_journal "
                               "BEGIN SELECT RAISE(ABORT, 'disk full (test)'); END");
  CHECK_THROWS_AS(persister.round(), whoisd::StateDbError);
  CHECK(persister.stats().round_errors == 1);
  whoisd::test::sql_exec(path, "DROP TRIGGER fail");
  persister.round();  // the rewrite
  CHECK(sql_int(path, "SELECT count(*) FROM source_state WHERE source = '192.0.2.45'") == 0);
  CHECK(sql_int(path, "SELECT episodes FROM source_state WHERE source = '192.0.2.44'") == 1);
  CHECK(stored_int(path, "SELECT count(*) FROM source_state") == 1);

  // What a restart loads is what the limiter held.
  Limiter restarted(small_limits(3), clock);
  StatePersister again(path, restarted, clock);
  CHECK(again.load().sources == 1);
  CHECK_FALSE(restarted.inspect(restarted.key_of(ip("192.0.2.45"))));
}

TEST_CASE("operators' lift and suspend reach the limiter and the abuse log", "[state][persister][admin]") {
  LoadedPersister setup(small_limits(2));
  auto& [dir, path, clock, limiter, persister] = setup;
  CHECK(run(limiter, "192.0.2.7", 3) == Decision::Verdict::limit_crossed);
  persister.round();

  std::int64_t lift_id = queue(path, "lift", "192.0.2.7", 0, "customer called; false positive");
  std::int64_t suspend_id = queue(path, "suspend", "2001:db8:aa:bb::/64", 6, "scraping from a /64");
  std::int64_t bad_id = queue(path, "suspend", "2001:db8::/48", 6, "wrong prefix");
  CHECK(limiter.check(ip("192.0.2.7")).verdict == Decision::Verdict::suspended);
  persister.round();
  // Lifted: the suspension ends now (its answered queries stay in the window).
  CHECK(limiter.inspect(limiter.key_of(ip("192.0.2.7")))->suspended_until == clock.now());
  Decision d = limiter.check(ip("2001:db8:aa:bb:1:2:3:4"));
  CHECK(d.verdict == Decision::Verdict::suspended);
  CHECK(d.manual);
  CHECK(d.suspended_until == clock.now() + 6 * 3600);

  StateDb db = StateDb::open(path, StateDb::Mode::read_only);
  auto lift = whoisd::find_admin_action(db, lift_id);
  REQUIRE(lift);
  REQUIRE(lift->applied_at);
  CHECK(*lift->applied_at == clock.now());
  CHECK_THAT(lift->result, Catch::StartsWith("lifted (was suspended until"));
  auto suspend = whoisd::find_admin_action(db, suspend_id);
  REQUIRE(suspend->applied_at);
  CHECK_THAT(suspend->result, Catch::StartsWith("suspended until"));
  auto bad = whoisd::find_admin_action(db, bad_id);
  REQUIRE(bad->applied_at);
  CHECK_THAT(bad->result, Catch::StartsWith("refused:"));
  CHECK(whoisd::pending_admin_actions(db).empty());

  CHECK(sql_text(path, "SELECT reason || '/' || operator FROM abuse_events WHERE kind = 'suspension_lifted'") ==
        "customer called; false positive/maria");
  CHECK(sql_int(path, "SELECT until FROM abuse_events WHERE kind = 'suspension_imposed' AND source = "
                      "'2001:db8:aa:bb::/64'") == clock.now() + 6 * 3600);
  // The stored state shows the change at once (same transaction).
  auto active = whoisd::active_suspensions(db, clock.now());
  REQUIRE(active.size() == 1);
  CHECK(active[0].source == "2001:db8:aa:bb::/64");
  CHECK(active[0].manual);
  // Applied once: another round does not apply them again.
  persister.round();
  CHECK(sql_int(path, "SELECT count(*) FROM abuse_events WHERE kind IN ('suspension_lifted', 'suspension_imposed')") ==
        2);
  CHECK(persister.stats().admin_actions_applied == 3);
}

TEST_CASE("an operator's suspend never shortens a suspension in force; the abuse log says what each command did",
          "[state][persister][admin]") {
  LoadedPersister setup(small_limits(2));
  auto& [dir, path, clock, limiter, persister] = setup;
  CHECK(run(limiter, "192.0.2.7", 3) == Decision::Verdict::limit_crossed);  // 24 h, episode 1
  CHECK(run(limiter, "192.0.2.9", 3) == Decision::Verdict::limit_crossed);
  persister.round();
  clock.advance(25 * 3600);  // 192.0.2.9's suspension is over; its episode is remembered
  CHECK(run(limiter, "192.0.2.7", 3) == Decision::Verdict::limit_crossed);  // 48 h, episode 2
  persister.round();
  const whoisd::UnixSeconds second_end = clock.now() + 48 * 3600;
  sql_exec(path, "DELETE FROM abuse_events");

  std::int64_t shorter = queue(path, "suspend", "192.0.2.7", 1, "scraping");
  std::int64_t nothing = queue(path, "lift", "192.0.2.8", 0, "never suspended");
  std::int64_t forget = queue(path, "lift", "192.0.2.9", 0, "agreed with the sender", true);
  std::int64_t longer = queue(path, "suspend", "192.0.2.7", 72, "x");
  persister.round();

  StateDb db = StateDb::open(path, StateDb::Mode::read_only);
  // 1 h asked of a source suspended for 48 h by the limit: the 48 h are kept, and said.
  CHECK(whoisd::find_admin_action(db, shorter)->result ==
        "kept: already suspended until " + whoisd::log::iso8601_utc(second_end) +
            " by the limit (episode 2), later than the 1 h asked; to shorten it, lift it first");
  // Then 72 h: longer, so it replaces it, as an operator's.
  CHECK(whoisd::find_admin_action(db, longer)->result ==
        "suspended until " + whoisd::log::iso8601_utc(clock.now() + 72 * 3600) + " (it was suspended until " +
            whoisd::log::iso8601_utc(second_end) + " by the limit (episode 2))");
  Decision d = limiter.check(ip("192.0.2.7"));
  CHECK(d.manual);
  CHECK(d.suspended_until == clock.now() + 72 * 3600);
  // A lift of a source that was never suspended: said, and nothing in the abuse log.
  CHECK(whoisd::find_admin_action(db, nothing)->result == "not suspended: nothing to lift");
  CHECK(sql_int(path, "SELECT count(*) FROM abuse_events WHERE source = '192.0.2.8'") == 0);
  // One not suspended any more whose episode is forgotten: that is recorded, as what it is.
  CHECK(whoisd::find_admin_action(db, forget)->result ==
        "not suspended; 1 episode(s) forgotten: the next suspension is the first");
  CHECK(limiter.inspect(limiter.key_of(ip("192.0.2.9")))->episodes == 0);
  CHECK(sql_text(path, "SELECT group_concat(kind || ' ' || source || ' ' || episode || ' ' || until || ' ' || "
                       "reason || ' ' || operator, '; ') FROM (SELECT * FROM abuse_events ORDER BY id)") ==
        "suspension_kept 192.0.2.7 2 " + std::to_string(second_end) + " scraping maria; "
        "episodes_forgotten 192.0.2.9 1 0 agreed with the sender maria; "
        "suspension_imposed 192.0.2.7 2 " + std::to_string(clock.now() + 72 * 3600) + " x maria");
}

TEST_CASE("commands queued while no daemon runs are applied at its next start", "[state][persister][admin]") {
  TempDir dir;
  std::string path = new_state(dir);
  ManualClock clock;
  {
    Limiter limiter(small_limits(2), clock);
    StatePersister persister(path, limiter, clock);
    persister.load();
    CHECK(run(limiter, "192.0.2.8", 3) == Decision::Verdict::limit_crossed);
  }  // destroyed: stop() writes the last round
  queue(path, "lift", "192.0.2.8", 0, "lifted while down");
  queue(path, "suspend", "192.0.2.9", 2, "imposed while down");
  Limiter limiter(small_limits(2), clock);
  StatePersister persister(path, limiter, clock);
  auto summary = persister.load();
  CHECK(summary.admin_actions == 2);
  CHECK(limiter.inspect(limiter.key_of(ip("192.0.2.8")))->suspended_until == clock.now());
  CHECK(limiter.check(ip("192.0.2.9")).verdict == Decision::Verdict::suspended);
}

TEST_CASE("the persister thread applies commands within a second and writes a last round at stop",
          "[state][persister][thread]") {
  LoadedPersister setup(small_limits(1000), {.interval = 200ms});
  auto& [dir, path, clock, limiter, persister] = setup;
  persister.start();
  queue(path, "suspend", "192.0.2.10", 1, "test");
  auto deadline = std::chrono::steady_clock::now() + 5s;  // generous under sanitizers; normally ~0.2 s
  while (limiter.check(ip("192.0.2.10")).verdict != Decision::Verdict::suspended &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  CHECK(limiter.check(ip("192.0.2.10")).verdict == Decision::Verdict::suspended);
  run(limiter, "192.0.2.12", 5);
  persister.stop();  // the last round holds 192.0.2.12's queries
  Limiter after(small_limits(1000), clock);
  StatePersister(path, after, clock).load();
  auto state = after.inspect(after.key_of(ip("192.0.2.12")));
  REQUIRE(state);
  CHECK(state->queries_in_window() == 5);
}

TEST_CASE("a kill -9 loses at most about the last second of state", "[state][persister][kill]") {
  TempDir dir;
  std::string path = new_state(dir);
  const whoisd::UnixSeconds t0 = ManualClock().now();
  int progress[2];
  REQUIRE(pipe(progress) == 0);
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // The "daemon": counts queries of one source as fast as it can, with a suspended
    // source and an episode to keep, and the persister thread at its default interval.
    close(progress[0]);
    ManualClock clock(t0);
    LimiterConfig config = small_limits(100'000'000);
    config.network_limits.add(*whoisd::Network::parse("203.0.113.0/24"), 3);
    Limiter limiter(std::move(config), clock);
    StatePersister persister(path, limiter, clock);
    persister.load();
    run(limiter, "203.0.113.1", 4);  // crosses its network's limit: episode 1
    persister.start();
    for (std::uint64_t n = 1;; ++n) {
      limiter.check(ip("192.0.2.1"));
      if (n % 100 == 0) {
        if (write(progress[1], &n, sizeof n) != sizeof n) _exit(1);
        std::this_thread::sleep_for(1ms);
      }
    }
  }
  close(progress[1]);
  // Progress reports with the time they arrived; SIGKILL after ~3 s.
  std::vector<std::pair<std::chrono::steady_clock::time_point, std::uint64_t>> seen;
  auto start = std::chrono::steady_clock::now();
  std::uint64_t n = 0;
  while (std::chrono::steady_clock::now() - start < 3s && read(progress[0], &n, sizeof n) == sizeof n)
    seen.emplace_back(std::chrono::steady_clock::now(), n);
  kill(child, SIGKILL);
  auto killed_at = std::chrono::steady_clock::now();
  int status = 0;
  waitpid(child, &status, 0);
  // Reports still in the pipe: what the child counted up to the kill.
  while (read(progress[0], &n, sizeof n) == sizeof n) seen.emplace_back(killed_at, n);
  close(progress[0]);
  REQUIRE(WIFSIGNALED(status));
  REQUIRE(WTERMSIG(status) == SIGKILL);
  REQUIRE_FALSE(seen.empty());
  std::uint64_t counted_at_kill = seen.back().second + 100;  // at most one report unsent
  // What the child had counted 1.5 s before the kill (one second allowed, plus margin
  // for a slow round under sanitizers).
  std::uint64_t counted_before = 0;
  for (const auto& [when, count] : seen)
    if (killed_at - when >= 1500ms) counted_before = count;

  ManualClock clock(t0);
  LimiterConfig config = small_limits(100'000'000);
  config.network_limits.add(*whoisd::Network::parse("203.0.113.0/24"), 3);
  Limiter limiter(std::move(config), clock);
  StatePersister persister(path, limiter, clock);
  persister.load();  // the file is consistent after the kill
  auto state = limiter.inspect(limiter.key_of(ip("192.0.2.1")));
  REQUIRE(state);
  INFO("counted 1.5 s before the kill: " << counted_before << ", stored: " << state->queries_in_window()
                                         << ", counted at the kill: " << counted_at_kill);
  CHECK(state->queries_in_window() >= counted_before);
  CHECK(state->queries_in_window() <= counted_at_kill);
  CHECK(counted_before > 0);
  Decision d = limiter.check(ip("203.0.113.1"));
  CHECK(d.verdict == Decision::Verdict::suspended);
  CHECK(d.episode == 1);
}

TEST_CASE("retention: old query and abuse log rows are purged in batches, recent ones kept", "[state][purge]") {
  TempDir dir;
  std::string path = new_state(dir);
  ManualClock clock;
  const std::int64_t now = clock.now();
  const std::int64_t day = 86400;
  sql_exec(path,
           "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 2499) "
           "INSERT INTO query_log (time_us, source, client, query, outcome, answer_us) "
           "SELECT (" + std::to_string(now) + " - (i % 100) * 86400) * 1000000, '192.0.2.1', '192.0.2.1', 'x.pt', "
           "'found', 5 FROM n");  // 25 rows a day over the last 100 days
  {
    StateDb db = StateDb::open(path, StateDb::Mode::read_write);
    StateDb::Transaction tx(db);
    whoisd::rebuild_query_counts(db);
    tx.commit();
  }
  sql_exec(path, "INSERT INTO abuse_events (time, source, kind) VALUES (" + std::to_string(now - 95 * day) +
                     ", '192.0.2.1', 'suspension_started'), (" + std::to_string(now - 5 * day) +
                     ", '192.0.2.1', 'suspension_started')");
  sql_exec(path, "INSERT INTO admin_actions (requested_at, action, source, reason, operator, applied_at) VALUES (" +
                     std::to_string(now - 95 * day) + ", 'lift', '192.0.2.1', 'old', 'ana', 1), (" +
                     std::to_string(now - 95 * day) + ", 'lift', '192.0.2.1', 'pending', 'ana', NULL)");
  StateDb db = StateDb::open(path, StateDb::Mode::read_write);
  // Rows of days 90..99 are older than 90 days (day 90 is exactly at the cutoff, kept).
  auto some = whoisd::purge_some(db, now - 90 * day, 100, 1);
  CHECK(some.query_log == 100);
  CHECK(some.more);
  auto rest = whoisd::purge_all(db, now - 90 * day, 100);
  CHECK(rest.query_log == 9 * 25 - 100);
  CHECK_FALSE(rest.more);
  CHECK(rest.abuse_events + some.abuse_events == 1);
  CHECK(rest.admin_actions + some.admin_actions == 1);  // the pending one stays
  CHECK(sql_int(path, "SELECT count(*) FROM query_log") == 2500 - 9 * 25);
  CHECK(sql_int(path, "SELECT min(time_us) FROM query_log") == (now - 90 * day) * 1'000'000);
  CHECK(whoisd::test::query_counts_disagreement(path) == 0);
  CHECK(sql_int(path, "SELECT count(*) FROM abuse_events") == 1);
  CHECK(sql_int(path, "SELECT count(*) FROM admin_actions") == 1);

  // The persister purges by its own retention and clock.
  Limiter limiter(small_limits(), clock);
  StatePersister persister(path, limiter, clock, {.retention = std::chrono::seconds(30 * day), .purge_batch = 64});
  CHECK(persister.purge_now() == 60 * 25 + 0);
  CHECK(sql_int(path, "SELECT count(*) FROM query_log") == 31 * 25);
  CHECK(persister.stats().rows_purged == 60 * 25);
}

namespace {

// `rows` query-log rows and one abuse event at `time`, counted in query_counts.
void log_rows_at(const std::string& path, whoisd::UnixSeconds time, int rows) {
  for (int i = 0; i < rows; ++i)
    sql_exec(path, "INSERT INTO query_log (time_us, source, client, query, outcome, answer_us) VALUES (" +
                       std::to_string(time * 1'000'000 + i) + ", '192.0.2.1', '192.0.2.1', 'x.pt', 'found', 5)");
  sql_exec(path, "INSERT INTO abuse_events (time, source, kind) VALUES (" + std::to_string(time) +
                     ", '192.0.2.1', 'suspension_started')");
  StateDb db = StateDb::open(path, StateDb::Mode::read_write);
  StateDb::Transaction tx(db);
  whoisd::rebuild_query_counts(db);
  tx.commit();
}

std::int64_t query_rows(const std::string& path) { return sql_int(path, "SELECT count(*) FROM query_log"); }
std::int64_t event_rows(const std::string& path) { return sql_int(path, "SELECT count(*) FROM abuse_events"); }

std::size_t count_of(const std::string& text, const std::string& word) {
  std::size_t n = 0;
  for (auto at = text.find(word); at != std::string::npos; at = text.find(word, at + word.size())) ++n;
  return n;
}

}  // namespace

TEST_CASE("retention purge: a wall clock stepped ahead, even for seconds, deletes nothing, and purging resumes "
          "after the step back; a lasting correction is honoured after the hold",
          "[state][purge][clock]") {
  LoadedPersister setup(small_limits(), {.retention = std::chrono::hours(30 * 24),
                                         .purge_every = std::chrono::seconds(300),
                                         .wall_clock_hold = std::chrono::seconds(600)});
  auto& [dir, path, clock, limiter, persister] = setup;
  constexpr std::int64_t kDay = 86'400, kYear = 365 * kDay;
  log_rows_at(path, clock.now() - 60, 10);        // the last minute's
  log_rows_at(path, clock.now() - 40 * kDay, 5);  // older than the retention

  // The first purge waits for the hold: nothing is known yet of how the wall clock moves.
  persister.purge_round();
  CHECK(query_rows(path) == 15);
  clock.advance(600);
  persister.purge_round();
  CHECK(query_rows(path) == 10);
  CHECK(event_rows(path) == 1);

  // A year ahead for 3 s, then back. The purge is due meanwhile (purge_every passed).
  log_rows_at(path, clock.now() - 40 * kDay, 5);
  clock.advance(300);
  {
    whoisd::test::CapturedStderr log;
    clock.step(kYear);
    persister.purge_round();
    clock.advance(3);
    persister.purge_round();
    clock.step(-kYear);
    persister.purge_round();
    CHECK(query_rows(path) == 15);  // the step deleted nothing, the last minute's rows least of all
    CHECK(event_rows(path) == 2);
    const std::string text = log.text();
    CHECK_THAT(text, Catch::Contains("event=wall_clock_step seconds=+31536000"));
    CHECK_THAT(text, Catch::Contains("event=wall_clock_step seconds=-31536000"));
    CHECK_THAT(text, Catch::Contains("event=state_purge_deferred"));
    CHECK(count_of(text, "event=state_purge_deferred") == 1);
  }
  // Purging resumes on schedule once the wall clock has kept pace for the hold (not
  // a year later, as a schedule on the stepped wall clock had it).
  clock.advance(599);
  persister.purge_round();
  CHECK(query_rows(path) == 15);
  clock.advance(1);
  persister.purge_round();
  CHECK(query_rows(path) == 10);
  CHECK(event_rows(path) == 1);

  // A lasting correction (the clock was a year behind): honoured after the hold.
  clock.step(kYear);
  persister.purge_round();  // sees the step
  for (int i = 0; i < 599; ++i) {
    clock.advance(1);
    persister.purge_round();
  }
  CHECK(query_rows(path) == 10);
  clock.advance(1);
  persister.purge_round();
  CHECK(query_rows(path) == 0);
  CHECK(event_rows(path) == 0);
}

TEST_CASE("folds keep their schedule when the wall clock steps ahead and back", "[state][journal][clock]") {
  LoadedPersister setup(small_limits(), {.fold_every = 60s});
  auto& [dir, path, clock, limiter, persister] = setup;
  limiter.check(ip("192.0.2.1"));
  persister.round();
  CHECK(persister.stats().folds == 0);
  clock.step(365 * 86'400);
  persister.round();
  CHECK(persister.stats().folds == 0);  // a minute of wall time is not a minute
  clock.step(-365 * 86'400);
  clock.advance(61);
  limiter.check(ip("192.0.2.2"));
  persister.round();
  CHECK(persister.stats().folds == 1);  // due a minute after load, not a year and a minute
  CHECK(sql_int(path, "SELECT count(*) FROM source_journal") == 0);
}

TEST_CASE("retention: a cutoff beyond the query log's microseconds deletes nothing rather than overflowing",
          "[state][purge]") {
  TempDir dir;
  std::string path = new_state(dir);
  ManualClock clock;
  sql_exec(path, "INSERT INTO query_log (time_us, source, client, query, outcome, answer_us) VALUES (" +
                     std::to_string(clock.now() * 1'000'000) + ", '192.0.2.1', '192.0.2.1', 'x.pt', 'found', 5)");
  StateDb db = StateDb::open(path, StateDb::Mode::read_write);
  // "22000000w" back from now: times a million it wraps round to a time in the future.
  const whoisd::UnixSeconds long_ago = clock.now() - 22'000'000LL * 7 * 86'400;
  CHECK(whoisd::purge_all(db, long_ago).query_log == 0);
  CHECK(whoisd::purge_all(db, std::numeric_limits<whoisd::UnixSeconds>::min()).query_log == 0);
  CHECK(sql_int(path, "SELECT count(*) FROM query_log") == 1);
  // Saturated the other way too: a cutoff past the end of time takes everything.
  CHECK(whoisd::purge_all(db, std::numeric_limits<whoisd::UnixSeconds>::max()).query_log == 1);
}

TEST_CASE("stored state the limiter cannot take: another IPv6 prefix is dropped with a warning, damage is an error",
          "[state][persister]") {
  TempDir dir;
  std::string path = new_state(dir);
  ManualClock clock;
  {
    Limiter limiter(small_limits(), clock);  // ipv6_prefix 64
    StatePersister persister(path, limiter, clock);
    persister.load();
    run(limiter, "2001:db8:7:8::1", 3);
    run(limiter, "192.0.2.1", 3);
  }
  {
    // The operator changed ipv6_prefix to 48: the /64 rows can never be used again.
    LimiterConfig config = small_limits();
    config.ipv6_prefix = 48;
    Limiter limiter(config, clock);
    StatePersister persister(path, limiter, clock);
    auto summary = persister.load();
    CHECK(summary.sources == 1);
    CHECK(sql_int(path, "SELECT count(*) FROM source_state") == 1);
    CHECK(limiter.inspect(limiter.key_of(ip("192.0.2.1")))->queries_in_window() == 3);
  }
  // Minutes out of order: the row is damaged; the daemon must not start on it silently.
  sql_exec(path, "UPDATE source_state SET minutes = x'0200000000000000010000000100000000000000' || "
                 "x'01000000' WHERE source = '192.0.2.1'");
  {
    Limiter limiter(small_limits(), clock);
    StatePersister persister(path, limiter, clock);
    CHECK_THROWS_WITH(persister.load(), Catch::Contains(path) && Catch::Contains("192.0.2.1") &&
                                            Catch::Contains("damaged"));
  }
  sql_exec(path, "UPDATE source_state SET minutes = x'0102' WHERE source = '192.0.2.1'");
  Limiter limiter(small_limits(), clock);
  StatePersister persister(path, limiter, clock);
  CHECK_THROWS_WITH(persister.load(), Catch::Contains("192.0.2.1") && Catch::Contains("minutes"));
}

TEST_CASE("a suspension keeps its reason and operator after the retention purges its abuse event",
          "[state][persister][admin]") {
  LoadedPersister setup(small_limits(2), {.retention = std::chrono::hours(1)});
  auto& [dir, path, clock, limiter, persister] = setup;
  CHECK(run(limiter, "192.0.2.7", 3) == Decision::Verdict::limit_crossed);  // the limit's: 24 h
  queue(path, "suspend", "2001:db8:aa:bb::/64", 48, "scraping from a /64");
  queue(path, "suspend", "192.0.2.8", 5, "to be lifted");
  persister.round();
  const whoisd::UnixSeconds imposed_at = clock.now();
  CHECK(sql_int(path, "SELECT count(*) FROM suspension_reasons") == 3);
  // A lift takes the lifted suspension's row with it.
  queue(path, "lift", "192.0.2.8", 0, "agreed with the sender");
  persister.round();
  CHECK(sql_int(path, "SELECT count(*) FROM suspension_reasons WHERE source = '192.0.2.8'") == 0);
  // A row whose suspension's end was never written (the limiter's event queue
  // overflowed) goes with the retention.
  whoisd::test::sql_exec(path, "INSERT INTO suspension_reasons VALUES ('192.0.2.99', " +
                                   std::to_string(clock.now() - 2 * 3600) + ", 1, 'automatic', 'old', '')");

  clock.advance(2 * 3600);
  persister.round();
  persister.purge_now();
  REQUIRE(sql_int(path, "SELECT count(*) FROM abuse_events WHERE kind IN ('suspension_started', "
                        "'suspension_imposed')") == 0);
  CHECK(sql_int(path, "SELECT count(*) FROM suspension_reasons WHERE source = '192.0.2.99'") == 0);

  StateDb db = StateDb::open(path, StateDb::Mode::read_only);
  auto active = whoisd::active_suspensions(db, clock.now());
  REQUIRE(active.size() == 2);
  CHECK(active[0].source == "192.0.2.7");
  CHECK_FALSE(active[0].manual);
  CHECK(active[0].reason == "limit of 2 queries crossed");
  CHECK(active[0].operator_name.empty());
  CHECK(active[1].source == "2001:db8:aa:bb::/64");
  CHECK(active[1].manual);
  CHECK(active[1].reason == "scraping from a /64");
  CHECK(active[1].operator_name == "maria");
  CHECK(active[1].since == imposed_at);
  CHECK(active[1].until == imposed_at + 48 * 3600);
}
