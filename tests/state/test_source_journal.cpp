// The limiter's state journal (state schema 3, lib/state/source_journal.h): entries
// decode to what was encoded and damage is named; what a kill -9 leaves between a
// journal write and a fold, or after a fold, loads as the state of the last round;
// suspensions reach source_state (whoisd-admin's views) without a fold; a version-2
// file is upgraded by the daemon only.
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <map>
#include <random>

#include "policy/limiter.h"
#include "state/source_journal.h"
#include "state/source_state_table.h"
#include "state/state_db.h"
#include "state/state_persister.h"
#include "state/state_reports.h"
#include "state/state_schema.h"
#include "state_test_util.h"
#include "support/temp_dir.h"
#include "support/test_address.h"

using namespace std::chrono_literals;
using whoisd::Decision;
using whoisd::IpAddress;
using whoisd::Limiter;
using whoisd::LimiterConfig;
using whoisd::ManualClock;
using whoisd::SourceJournalRecord;
using whoisd::SourceKey;
using whoisd::SourceState;
using whoisd::StateDb;
using whoisd::StatePersister;
using whoisd::test::sql_exec;
using whoisd::test::sql_int;
using whoisd::test::stored_int;
using whoisd::test::TempDir;
using whoisd::test::ip;
using whoisd::test::LoadedPersister;
using whoisd::test::new_state;

namespace {

LimiterConfig limits(std::uint32_t queries) {
  LimiterConfig c;
  c.queries = queries;
  return c;
}

// The clients of the tests below: IPv4 and IPv6 (/64) sources.
std::vector<std::string> clients() {
  std::vector<std::string> out;
  for (int i = 1; i <= 40; ++i) out.push_back("192.0.2." + std::to_string(i));
  for (int i = 1; i <= 10; ++i) out.push_back("2001:db8:" + std::to_string(i) + "::7");
  return out;
}

// Every client's state in `a` equals its state in `b` (both untracked counts as equal).
std::string describe(const std::optional<SourceState>& s) {
  if (!s) return "untracked";
  std::string out = "episodes " + std::to_string(s->episodes) + ", last_episode " + std::to_string(s->last_episode) +
                    ", suspended_until " + std::to_string(s->suspended_until) + ", flags " + std::to_string(s->flags) +
                    ", minutes";
  for (const auto& m : s->minutes) out += " " + std::to_string(m.minute) + ":" + std::to_string(m.count);
  return out;
}

// Every client's state in `restarted` is its state in `running`, as the limiter
// restores it (Limiter::import: a lifted suspension without episodes is not kept, for
// one), or both untracked.
void check_same_state(const Limiter& running, const Limiter& restarted, const LimiterConfig& config,
                      const ManualClock& clock) {
  Limiter expected(config, clock);
  for (const std::string& c : clients()) {
    auto sa = running.inspect(running.key_of(ip(c)));
    if (sa) {
      REQUIRE(expected.import(*sa));
      sa = expected.inspect(expected.key_of(ip(c)));
    }
    auto sb = restarted.inspect(restarted.key_of(ip(c)));
    INFO("client " << c << ": " << describe(sa) << " / " << describe(sb));
    CHECK(sa == sb);
  }
}

// What a kill -9 leaves on disk: the committed transactions, copied by another connection.
std::string copy_as_killed(const std::string& path, const TempDir& dir, const std::string& name) {
  std::string copy = dir.path() + "/" + name + ".sqlite";
  sql_exec(path, "VACUUM INTO '" + copy + "'");
  return copy;
}

SourceState random_state(std::mt19937_64& rng) {
  SourceState s;
  if (rng() % 3 == 0) {
    s.key = whoisd::source_key(IpAddress::v6({0x20, 0x01, 0x0d, 0xb8, static_cast<std::uint8_t>(rng()),
                                              static_cast<std::uint8_t>(rng()), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}),
                               static_cast<int>(rng() % 129));
  } else {
    s.key = whoisd::source_key(IpAddress::v4(static_cast<std::uint32_t>(rng())), 64);
  }
  std::int64_t minute = static_cast<std::int64_t>(rng() % 0xffff'0000u);
  for (std::size_t n = rng() % 1441; n > 0 && minute < 0xffff'ffffLL; --n) {
    s.minutes.push_back({minute, static_cast<std::uint32_t>(1 + rng() % (rng() % 2 ? 3 : 0xffff'fffeu))});
    minute += 1 + static_cast<std::int64_t>(rng() % (rng() % 2 ? 2 : 100'000));
  }
  if (rng() % 2) {
    s.episodes = static_cast<std::uint32_t>(rng());
    s.last_episode = static_cast<std::int64_t>(rng() % 4'000'000'000u);
    s.suspended_until = rng() % 5 == 0 ? -static_cast<std::int64_t>(rng() % 1000) : static_cast<std::int64_t>(rng());
    s.flags = static_cast<std::uint8_t>(rng());
  }
  return s;
}

}  // namespace

TEST_CASE("journal entries decode to the states encoded; a damaged entry is named, never read past",
          "[state][journal]") {
  std::mt19937_64 rng(5);
  SourceJournalRecord record;
  std::vector<SourceState> states;
  for (int i = 0; i < 300; ++i) {
    states.push_back(random_state(rng));
    record.add(states.back());
  }
  states.push_back(SourceState{});  // a forgotten source
  states.back().key = whoisd::source_key(ip("198.51.100.9"), 64);
  record.add(states.back());
  REQUIRE(record.entries() == states.size());

  const std::string& blob = record.bytes();
  SourceState out;
  std::string error;
  std::size_t at = 0;
  for (const SourceState& expected : states) {
    std::size_t next = whoisd::decode_journal_entry(blob, at, out, error);
    REQUIRE(next > at);
    CHECK(out == expected);
    at = next;
  }
  CHECK(at == blob.size());

  // Every truncation of one entry is an error, not a shorter state.
  SourceJournalRecord one;
  one.add(states[1]);
  for (std::size_t size = 0; size < one.bytes().size(); ++size) {
    error.clear();
    CHECK(whoisd::decode_journal_entry(std::string_view(one.bytes()).substr(0, size), 0, out, error) == 0);
    CHECK_THAT(error, Catch::Contains("truncated") || Catch::Contains("than the record holds"));
  }
  auto decode_error = [&](std::string bytes) {
    error.clear();
    CHECK(whoisd::decode_journal_entry(bytes, 0, out, error) == 0);
    return error;
  };
  using namespace std::string_literals;
  CHECK_THAT(decode_error("\x05\x01\x02\x03\x04\x00\x00\x00\x00\x00"s), Catch::Contains("unknown key tag 5"));
  CHECK_THAT(decode_error("\x06\x81"s + std::string(16, '\0') + "\x00\x00\x00\x00\x00"s),
             Catch::Contains("prefix length 129"));
  CHECK_THAT(decode_error("\x06\x40"s + std::string(10, '\0') + "\xff\xff\xc0\x00\x02\x01\x00\x00\x00\x00\x00"s),
             Catch::Contains("IPv4-mapped"));
  // Two minutes, the second not after the first.
  CHECK_THAT(decode_error("\x04\x01\x02\x03\x04\x00\x00\x00\x00\x02\x10\x01\x00\x01"s),
             Catch::Contains("not in order"));
  CHECK_THAT(decode_error("\x04\x01\x02\x03\x04\x00\x00\x00\x00\x01\x10\x00"s), Catch::Contains("count of 0"));
  CHECK_THAT(decode_error("\x04\x01\x02\x03\x04\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"s),
             Catch::Contains("longer than 64 bits"));
  CHECK_THAT(decode_error("\x04\x01\x02\x03\x04\x00\x00\x00\x00\xff\xff\xff\x0f"s), Catch::Contains("more minutes"));
}

TEST_CASE("write_all writes many sources 32 rows a statement and the rest one a statement, deleting forgotten ones",
          "[state][journal]") {
  // 75 sources (two statements of 32, then 11 alone): IPv4 and IPv6 keys, windows of 0-5
  // minutes, suspension fields on some; every 7th forgotten (empty: its row deleted).
  TempDir dir;
  std::string path = new_state(dir);
  StateDb db = StateDb::open(path, StateDb::Mode::read_write);
  whoisd::SourceStateTable table(db);
  auto state_for = [](std::size_t i, int version) {
    SourceState s;
    s.key = i % 2 ? whoisd::source_key(ip("2001:db8:" + std::to_string(i) + "::1"), 64)
                  : whoisd::source_key(ip("198.51.100." + std::to_string(i)), 64);
    for (std::size_t m = 0; m < (i + static_cast<std::size_t>(version)) % 6; ++m)
      s.minutes.push_back({static_cast<std::int64_t>(29'000'000 + m * 3 + i), static_cast<std::uint32_t>(i + m + 1)});
    if (i % 5 == 0) {
      s.episodes = static_cast<std::uint32_t>(i / 5 + 1);
      s.last_episode = 1'700'000'000 + static_cast<std::int64_t>(i);
      s.suspended_until = s.last_episode + 86'400;
      s.flags = static_cast<std::uint8_t>(i % 3);
    }
    return s;
  };
  auto write = [&](int version, bool forget) {
    StateDb::Transaction tx(db);
    table.write_all(75, [&](std::size_t i, SourceState& out) {
      out = forget && i % 7 == 0 ? SourceState{state_for(i, version).key, {}, 0, 0, 0, 0} : state_for(i, version);
      return whoisd::UnixSeconds{1'800'000'000 + static_cast<std::int64_t>(i) + version};
    });
    tx.commit();
  };
  auto check_rows = [&](int version, bool forgotten) {
    std::map<std::size_t, SourceState> expected;
    for (std::size_t i = 0; i < 75; ++i) {
      SourceState s = state_for(i, version);
      if (forgotten && i % 7 == 0) continue;
      if (s.empty()) continue;  // never written
      expected[i] = s;
    }
    std::map<std::string, SourceState> loaded;
    table.load_all([&](const SourceState& s) { loaded[whoisd::to_string(s.key)] = s; });
    CHECK(loaded.size() == expected.size());
    for (const auto& [i, s] : expected) {
      INFO("source " << i << " " << whoisd::to_string(s.key));
      auto it = loaded.find(whoisd::to_string(s.key));
      REQUIRE(it != loaded.end());
      CHECK(it->second == s);
      CHECK(sql_int(path, "SELECT updated_at FROM source_state WHERE source = '" + whoisd::to_string(s.key) + "'") ==
            1'800'000'000 + static_cast<std::int64_t>(i) + version);
    }
  };
  write(0, false);
  check_rows(0, false);
  write(1, true);  // every row replaced; every 7th deleted
  check_rows(1, true);
}

TEST_CASE("a kill -9 between journal writes and a fold: the next start folds the journal and loads every round",
          "[state][journal][kill]") {
  LoadedPersister setup(limits(25));
  auto& [dir, path, clock, limiter, persister] = setup;
  // Rounds of queries from 50 sources, some crossing the limit (written to source_state
  // too), one forgotten later, one suspended and then lifted by an operator.
  std::mt19937_64 rng(9);
  const auto all = clients();
  for (int round = 0; round < 12; ++round) {
    // Half the queries from 5 sources: those cross the limit.
    for (int q = 0; q < 60; ++q) limiter.check(ip(all[rng() % (q % 2 ? 5 : all.size())]));
    if (round == 3) limiter.suspend(limiter.key_of(ip("192.0.2.40")), 2h);
    if (round == 7) limiter.lift(limiter.key_of(ip("192.0.2.40")));
    persister.round();
    clock.advance(1);
  }
  REQUIRE(persister.stats().folds == 0);  // all of it is still in the journal ...
  REQUIRE(sql_int(path, "SELECT count(*) FROM source_journal") == 12);
  // ... except the rows of sources with suspension fields, written straight too.
  CHECK(sql_int(path, "SELECT count(*) FROM source_state") > 0);
  CHECK(sql_int(path, "SELECT count(*) FROM source_state") ==
        sql_int(path, "SELECT count(*) FROM source_state WHERE episodes > 0 OR suspended_until != 0 OR flags != 0"));

  std::string killed = copy_as_killed(path, dir, "killed");
  Limiter restarted(limits(25), clock);
  StatePersister again(killed, restarted, clock);
  auto summary = again.load();
  CHECK(summary.sources == limiter.tracked_sources());
  check_same_state(limiter, restarted, limits(25), clock);
  CHECK(sql_int(killed, "SELECT count(*) FROM source_journal") == 0);  // folded at load
  CHECK(sql_int(killed, "SELECT count(*) FROM source_state") == static_cast<std::int64_t>(limiter.tracked_sources()));
}

TEST_CASE("fold then restart: folded and later journaled states load as the last round's",
          "[state][journal]") {
  LoadedPersister setup(limits(1000), {.fold_every = 60s});
  auto& [dir, path, clock, limiter, persister] = setup;
  for (const std::string& c : clients()) limiter.check(ip(c));
  persister.round();
  clock.advance(61);
  limiter.check(ip("192.0.2.1"));
  persister.round();  // a minute since load: this round folds
  CHECK(persister.stats().folds == 1);
  CHECK(sql_int(path, "SELECT count(*) FROM source_journal") == 0);
  CHECK(sql_int(path, "SELECT count(*) FROM source_state") == static_cast<std::int64_t>(clients().size()));
  CHECK(sql_int(path, "SELECT updated_at FROM source_state WHERE source = '192.0.2.1'") == clock.now());

  // Sources forgotten (deleted by the next fold, a minute later or more) ...
  clock.advance(24 * 3600 + 60);  // the first queries leave the window
  for (int i = 0; i < 2; ++i) limiter.check(ip("192.0.2.2"));
  limiter.check(ip("2001:db8:3::1"));
  limiter.sweep(1'000'000);
  persister.round();
  CHECK(persister.stats().folds == 2);
  const auto tracked = static_cast<std::int64_t>(limiter.tracked_sources());
  CHECK(tracked >= 2);  // 192.0.2.2 and 2001:db8:3::/64 at least
  CHECK(tracked < static_cast<std::int64_t>(clients().size()));
  CHECK(sql_int(path, "SELECT count(*) FROM source_state") == tracked);
  // ... and after the fold a newer state in the journal only.
  limiter.check(ip("192.0.2.2"));
  persister.round();
  REQUIRE(sql_int(path, "SELECT count(*) FROM source_journal") == 1);
  std::string killed = copy_as_killed(path, dir, "killed");

  Limiter restarted(limits(1000), clock);
  StatePersister again(killed, restarted, clock);
  again.load();
  check_same_state(limiter, restarted, limits(1000), clock);
  CHECK(static_cast<std::int64_t>(restarted.tracked_sources()) == tracked);
  CHECK(restarted.inspect(restarted.key_of(ip("192.0.2.2")))->queries_in_window() == 3);
  CHECK(sql_int(killed, "SELECT count(*) FROM source_state") == tracked);
}

TEST_CASE("the journal is folded once it holds fold_entries entries, and at stop", "[state][journal]") {
  LoadedPersister setup(limits(1000), {.fold_entries = 100});
  auto& [dir, path, clock, limiter, persister] = setup;
  const auto all = clients();  // 50
  for (int round = 1; round <= 4; ++round) {
    for (const std::string& c : all) limiter.check(ip(c));
    persister.round();
    // Rounds 1 and 3 leave 50 entries in the journal, rounds 2 and 4 reach 100 and fold.
    CHECK(sql_int(path, "SELECT count(*) FROM source_journal") == round % 2);
    CHECK(persister.stats().folds == static_cast<std::uint64_t>(round / 2));
  }
  limiter.check(ip("192.0.2.1"));
  persister.stop();
  CHECK(sql_int(path, "SELECT count(*) FROM source_journal") == 0);
  CHECK(sql_int(path, "SELECT count(*) FROM source_state") == static_cast<std::int64_t>(all.size()));
  Limiter restarted(limits(1000), clock);
  StatePersister(path, restarted, clock).load();
  check_same_state(limiter, restarted, limits(1000), clock);
}

TEST_CASE("whoisd-admin's views see suspensions, lifts and forgotten episodes after one round, without a fold",
          "[state][journal][admin]") {
  TempDir dir;
  std::string path = new_state(dir);
  ManualClock clock;
  LimiterConfig config = limits(3);
  config.quiet_period = std::chrono::seconds(7 * 86400);
  Limiter limiter(config, clock);
  StatePersister persister(path, limiter, clock);
  persister.load();
  CHECK(limiter.check(ip("192.0.2.5")).verdict == Decision::Verdict::allow);
  persister.round();  // 192.0.2.5 only in the journal: nothing for the views to show
  for (int i = 0; i < 3; ++i) limiter.check(ip("192.0.2.5"));  // crosses
  limiter.suspend(limiter.key_of(ip("2001:db8:9::1")), 3h);
  persister.round();
  const whoisd::UnixSeconds now = clock.now();
  {
    StateDb db = StateDb::open(path, StateDb::Mode::read_only);
    auto active = whoisd::active_suspensions(db, now);
    REQUIRE(active.size() == 2);
    CHECK(active[0].source == "2001:db8:9::/64");
    CHECK(active[0].manual);
    CHECK(active[1].source == "192.0.2.5");
    CHECK(active[1].episodes == 1);
    auto history = whoisd::source_history(db, "192.0.2.5", 0, 10, now);
    CHECK(history.suspended_until == now + 24 * 3600);
    CHECK(history.episodes == 1);
  }
  CHECK(persister.stats().folds == 0);

  limiter.lift(limiter.key_of(ip("192.0.2.5")), /*forget_episodes=*/true);
  persister.round();
  {
    StateDb db = StateDb::open(path, StateDb::Mode::read_only);
    auto active = whoisd::active_suspensions(db, now);
    REQUIRE(active.size() == 1);
    CHECK(active[0].source == "2001:db8:9::/64");
    auto history = whoisd::source_history(db, "192.0.2.5", 0, 10, now);
    CHECK_FALSE(history.suspended_until);
    CHECK(history.episodes == 0);
  }
  // Forgotten once its state no longer matters: its row goes in that round too.
  clock.advance(8 * 86400);
  std::vector<whoisd::LimiterEvent> events;
  limiter.drain_events(events);
  limiter.sweep(1'000'000);
  persister.round();
  CHECK(sql_int(path, "SELECT count(*) FROM source_state WHERE source = '192.0.2.5'") == 0);
  CHECK(stored_int(path, "SELECT count(*) FROM source_state WHERE source = '192.0.2.5'") == 0);
}

TEST_CASE("a damaged journal record is an error at start naming the file and the record", "[state][journal]") {
  TempDir dir;
  std::string path = new_state(dir);
  ManualClock clock;
  {
    Limiter limiter(limits(10), clock);
    StatePersister persister(path, limiter, clock);
    persister.load();
    limiter.check(ip("192.0.2.1"));
    persister.round();
    sql_exec(path, "INSERT INTO source_journal (time, entries, states) VALUES (1, 1, x'04c0000201000000000201')");
    // Destroyed: the fold at stop meets the damaged record, logs it and leaves the file.
  }
  REQUIRE(sql_int(path, "SELECT count(*) FROM source_journal") == 2);
  Limiter limiter(limits(10), clock);
  StatePersister persister(path, limiter, clock);
  CHECK_THROWS_WITH(persister.load(), Catch::Contains(path) && Catch::Contains("source_journal row 2") &&
                                          Catch::Contains("damaged"));
}

TEST_CASE("a version-2 state database is upgraded by the daemon's open only, its state kept",
          "[state][journal][db]") {
  TempDir dir;
  std::string path = whoisd::state_db_path(dir.path());
  // A file as the whoisd of version 2 made it, with one source's state.
  {
    std::ofstream touch(path);
  }
  sql_exec(path, std::string("PRAGMA journal_mode = WAL; BEGIN;") + std::string(whoisd::state_schema_version_1_sql()) +
                     std::string(whoisd::state_schema_added_in_version_2()) +
                     "INSERT INTO source_state (source, key, prefix, minutes, episodes, last_episode, suspended_until, "
                     "flags, updated_at) VALUES ('192.0.2.1', x'00000000000000000000ffffc0000201', 32, "
                     "x'b66bc10100000000" "05000000', 1, 1767225000, 1767311400, 0, 1767225000);"
                     "PRAGMA user_version = 2; COMMIT;");
  for (auto mode : {StateDb::Mode::read_only, StateDb::Mode::read_write}) {
    CHECK_THAT(whoisd::test::open_error(path, mode), Catch::Contains(path) && Catch::Contains("version 2") && Catch::Contains("restart whoisd"));
  }
  CHECK(sql_int(path, "PRAGMA user_version") == 2);
  StateDb::open(path, StateDb::Mode::create);
  CHECK(sql_int(path, "PRAGMA user_version") == whoisd::kStateSchemaVersion);
  CHECK(sql_int(path, "SELECT count(*) FROM source_journal") == 0);
  ManualClock clock(1'767'225'600);
  Limiter limiter(limits(10), clock);
  StatePersister persister(path, limiter, clock);
  auto summary = persister.load();
  CHECK(summary.sources == 1);
  CHECK(summary.active_suspensions == 1);
  auto state = limiter.inspect(limiter.key_of(ip("192.0.2.1")));
  REQUIRE(state);
  CHECK(state->episodes == 1);
  CHECK(state->suspended_until == 1767311400);
  CHECK(state->queries_in_window() == 5);
}
