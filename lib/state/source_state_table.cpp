#include "state/source_state_table.h"

#include <cstring>

namespace whoisd {
namespace {

void put_le(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}
std::uint64_t get_le(std::string_view in, std::size_t at, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= std::uint64_t{static_cast<unsigned char>(in[at + static_cast<std::size_t>(i)])} << (8 * i);
  return v;
}
constexpr std::size_t kPairBytes = 12;

}  // namespace

void encode_minutes(const std::vector<MinuteCount>& minutes, std::string& out) {
  out.clear();
  out.reserve(minutes.size() * kPairBytes);
  for (const MinuteCount& m : minutes) {
    put_le(out, static_cast<std::uint64_t>(m.minute), 8);
    put_le(out, m.count, 4);
  }
}


bool decode_minutes(std::string_view blob, std::vector<MinuteCount>& out) {
  out.clear();
  if (blob.size() % kPairBytes != 0) return false;
  out.reserve(blob.size() / kPairBytes);
  for (std::size_t at = 0; at < blob.size(); at += kPairBytes)
    out.push_back({static_cast<std::int64_t>(get_le(blob, at, 8)), static_cast<std::uint32_t>(get_le(blob, at + 8, 4))});
  return true;
}

namespace {

constexpr int kSourceStateColumns = 9;
// OR FAIL (multi_row_sql.h); every NOT NULL column is bound a value.
constexpr std::string_view kInsertSourceState =
    "INSERT OR FAIL INTO source_state (source, key, prefix, minutes, episodes, last_episode, suspended_until, "
    "flags, updated_at)";
constexpr std::string_view kReplaceSourceState =
    " ON CONFLICT (source) DO UPDATE SET key = excluded.key, prefix = excluded.prefix, "
    "minutes = excluded.minutes, episodes = excluded.episodes, last_episode = excluded.last_episode, "
    "suspended_until = excluded.suspended_until, flags = excluded.flags, updated_at = excluded.updated_at";

}  // namespace

SourceStateTable::SourceStateTable(StateDb& db)
    : db_(db),
      upsert_(db, rows_sql(kInsertSourceState, kSourceStateColumns, 1, kReplaceSourceState)),
      upsert_group_(db, rows_sql(kInsertSourceState, kSourceStateColumns, kRowsPerStatement, kReplaceSourceState)),
      erase_(db, "DELETE FROM source_state WHERE source = ?") {}

void SourceStateTable::fill_row(const SourceState& state, UnixSeconds now, Row& row) {
  row.source = to_string(state.key);
  row.key = state.key;
  encode_minutes(state.minutes, row.minutes);
  row.episodes = state.episodes;
  row.last_episode = state.last_episode;
  row.suspended_until = state.suspended_until;
  row.flags = state.flags;
  row.updated_at = now;
}

void SourceStateTable::bind_row(SqliteStatement& statement, int index, const Row& row) {
  const int p = index * kSourceStateColumns;
  statement.bind_static(p + 1, row.source)
      .bind_blob_static(p + 2, row.key.bytes.data(), row.key.bytes.size())
      .bind(p + 3, std::int64_t{row.key.prefix})
      .bind_blob_static(p + 4, row.minutes.data(), row.minutes.size())
      .bind(p + 5, std::int64_t{row.episodes})
      .bind(p + 6, row.last_episode)
      .bind(p + 7, row.suspended_until)
      .bind(p + 8, std::int64_t{row.flags})
      .bind(p + 9, row.updated_at);
}

void SourceStateTable::write(const SourceState& state, UnixSeconds now) {
  if (state.empty()) {
    erase_.bind(1, to_string(state.key)).run();
    return;
  }
  fill_row(state, now, row_);
  bind_row(upsert_, 0, row_);
  upsert_.run();
}

void SourceStateTable::write_all(std::size_t count,
                                 const std::function<UnixSeconds(std::size_t, SourceState&)>& state_of) {
  // The rows to keep gather in group_rows_ until a statement's worth; the last few
  // (fewer than kRowsPerStatement) then go one a statement.
  SourceState state;
  std::size_t gathered = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const UnixSeconds now = state_of(i, state);
    if (state.empty()) {
      erase_.bind(1, to_string(state.key)).run();
      continue;
    }
    fill_row(state, now, group_rows_[gathered]);
    if (++gathered < kRowsPerStatement) continue;
    for (std::size_t r = 0; r < gathered; ++r) bind_row(upsert_group_, static_cast<int>(r), group_rows_[r]);
    upsert_group_.run();
    gathered = 0;
  }
  for (std::size_t r = 0; r < gathered; ++r) {
    bind_row(upsert_, 0, group_rows_[r]);
    upsert_.run();
  }
}

std::size_t SourceStateTable::load_all(const std::function<void(const SourceState&)>& sink) {
  SqliteStatement select(db_,
                         "SELECT source, key, prefix, minutes, episodes, last_episode, suspended_until, flags "
                         "FROM source_state");
  std::size_t n = 0;
  SourceState state;
  while (select.step()) {
    std::string source = select.text(0);
    std::string_view key = select.blob(1);
    std::int64_t prefix = select.int64(2);
    auto bad = [&](std::string_view what) {
      throw StateDbError("state database " + db_.path() + ": source_state row '" + source.substr(0, 64) +
                         "' is damaged: " + std::string(what));
    };
    if (key.size() != state.key.bytes.size()) bad("key is not 16 bytes");
    if (prefix < 0 || prefix > 128) bad("prefix out of range");
    std::memcpy(state.key.bytes.data(), key.data(), key.size());
    state.key.prefix = static_cast<std::uint8_t>(prefix);
    if (!decode_minutes(select.blob(3), state.minutes)) bad("minutes is not a list of (minute, count) pairs");
    std::int64_t episodes = select.int64(4);
    if (episodes < 0 || episodes > 0xffffffffLL) bad("episodes out of range");
    state.episodes = static_cast<std::uint32_t>(episodes);
    state.last_episode = select.int64(5);
    state.suspended_until = select.int64(6);
    state.flags = static_cast<std::uint8_t>(select.int64(7) & 0xff);
    sink(state);
    ++n;
  }
  return n;
}

}  // namespace whoisd
