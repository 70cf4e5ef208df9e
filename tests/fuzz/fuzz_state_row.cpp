// A source_state row as a damaged or hostile state.sqlite could hold it: the bytes
// become the row's key, prefix, minutes, episodes, times and flags; loading it either
// restores the source into a limiter or throws StateDbError naming the row — never a
// crash, never anything else — and what was restored exports as a valid state.
#include <unistd.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/log.h"
#include "policy/limiter.h"
#include "state/source_state_table.h"
#include "state/sqlite_statement.h"
#include "state/state_db.h"
#include "state/state_persister.h"

namespace {

struct Reader {
  const std::uint8_t* p;
  std::size_t n;
  std::uint64_t take(int bytes) {
    std::uint64_t v = 0;
    for (int i = 0; i < bytes && n; ++i, ++p, --n) v |= std::uint64_t{*p} << (8 * i);
    return v;
  }
  std::string rest() { return std::string(reinterpret_cast<const char*>(p), n); }
};

std::string state_path() {
  static std::string path = [] {
    char tmpl[] = "/tmp/whoisd-fuzz-state-XXXXXX";
    if (!mkdtemp(tmpl)) std::abort();
    std::string p = whoisd::state_db_path(tmpl);
    whoisd::StateDb::open(p, whoisd::StateDb::Mode::create);
    return p;
  }();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  whoisd::log::set_level(whoisd::log::Level::error);  // not a state_loaded line per input
  Reader r{data, size};
  std::uint8_t key[16];
  for (auto& b : key) b = static_cast<std::uint8_t>(r.take(1));
  std::size_t key_len = r.take(1) % 20;  // usually 16; sometimes too short or long
  auto prefix = static_cast<std::int64_t>(r.take(1)) - 64;
  auto episodes = static_cast<std::int64_t>(r.take(8));
  auto last_episode = static_cast<std::int64_t>(r.take(8));
  auto suspended_until = static_cast<std::int64_t>(r.take(8));
  auto flags = static_cast<std::int64_t>(r.take(2));
  std::string minutes = r.rest();

  static whoisd::StateDb db = whoisd::StateDb::open(state_path(), whoisd::StateDb::Mode::read_write);
  db.exec("DELETE FROM source_state");
  std::string blob_key(reinterpret_cast<const char*>(key), std::min<std::size_t>(key_len, 16));
  if (key_len > 16) blob_key += std::string(key_len - 16, 'x');
  {
    whoisd::SqliteStatement insert(db,
                                   "INSERT INTO source_state (source, key, prefix, minutes, episodes, last_episode, "
                                   "suspended_until, flags, updated_at) VALUES ('fuzz', ?, ?, ?, ?, ?, ?, ?, 0)");
    insert.bind_blob(1, blob_key.data(), blob_key.size())
        .bind(2, prefix)
        .bind_blob(3, minutes.data(), minutes.size())
        .bind(4, episodes)
        .bind(5, last_episode)
        .bind(6, suspended_until)
        .bind(7, flags);
    insert.run();
  }

  whoisd::ManualClock clock;
  whoisd::Limiter limiter(whoisd::LimiterConfig{}, clock);
  try {
    whoisd::StatePersister persister(state_path(), limiter, clock);
    persister.load();
  } catch (const whoisd::StateDbError&) {
    return 0;
  }
  limiter.export_all([](const whoisd::SourceState& s) {
    for (std::size_t i = 1; i < s.minutes.size(); ++i)
      if (s.minutes[i].minute <= s.minutes[i - 1].minute) std::abort();
  });
  std::array<std::uint8_t, 16> address{};
  std::memcpy(address.data(), key, sizeof key);
  limiter.check(whoisd::IpAddress::v6(address));
  return 0;
}
