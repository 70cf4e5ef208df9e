#include "state/source_journal.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace whoisd {
namespace {

enum : std::uint8_t { kTagV4 = 4, kTagV6 = 6 };
constexpr std::int64_t kMaxMinute = 0xffffffffLL;

void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}
std::uint64_t zigzag(std::int64_t v) {
  return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
std::int64_t unzigzag(std::uint64_t v) { return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1); }

// Reads the blob front to back; the first failure is kept and every later read gives 0.
class Reader {
 public:
  Reader(std::string_view blob, std::size_t at) : blob_(blob), at_(at) {}
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  std::size_t at() const { return at_; }
  std::size_t left() const { return blob_.size() - at_; }
  void fail(std::string what) {
    if (error_.empty()) error_ = std::move(what) + " (at byte " + std::to_string(at_) + ")";
  }
  std::uint8_t byte() {
    if (failed() || at_ >= blob_.size()) {
      fail("truncated");
      return 0;
    }
    return static_cast<std::uint8_t>(blob_[at_++]);
  }
  void bytes(std::uint8_t* out, std::size_t n) {
    if (failed() || left() < n) {
      fail("truncated");
      return;
    }
    std::memcpy(out, blob_.data() + at_, n);
    at_ += n;
  }
  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      std::uint8_t b = byte();
      if (failed()) return 0;
      if (shift == 63 && b > 1) break;
      v |= std::uint64_t{b & 0x7fu} << shift;
      if (!(b & 0x80)) return v;
    }
    fail("a number longer than 64 bits");
    return 0;
  }

 private:
  std::string_view blob_;
  std::size_t at_;
  std::string error_;
};

}  // namespace

void SourceJournalRecord::add(const SourceState& state) {
  if (state.key.is_v4()) {
    bytes_ += static_cast<char>(kTagV4);
    bytes_.append(reinterpret_cast<const char*>(state.key.bytes.data()) + 12, 4);
  } else {
    bytes_ += static_cast<char>(kTagV6);
    bytes_ += static_cast<char>(state.key.prefix);
    bytes_.append(reinterpret_cast<const char*>(state.key.bytes.data()), 16);
  }
  put_varint(bytes_, state.episodes);
  put_varint(bytes_, zigzag(state.last_episode));
  put_varint(bytes_, zigzag(state.suspended_until));
  bytes_ += static_cast<char>(state.flags);
  put_varint(bytes_, state.minutes.size());
  std::int64_t previous = 0;
  for (std::size_t i = 0; i < state.minutes.size(); ++i) {
    const MinuteCount& m = state.minutes[i];
    put_varint(bytes_, i == 0 ? zigzag(m.minute) : static_cast<std::uint64_t>(m.minute - previous));
    put_varint(bytes_, m.count);
    previous = m.minute;
  }
  ++entries_;
}

std::size_t decode_journal_entry(std::string_view blob, std::size_t at, SourceState& out, std::string& error) {
  Reader in(blob, at);
  out.key = SourceKey{};
  std::uint8_t tag = in.byte();
  if (tag == kTagV4) {
    out.key.bytes[10] = out.key.bytes[11] = 0xff;
    in.bytes(out.key.bytes.data() + 12, 4);
    out.key.prefix = 32;
  } else if (tag == kTagV6) {
    out.key.prefix = in.byte();
    if (out.key.prefix > 128) in.fail("IPv6 prefix length " + std::to_string(out.key.prefix) + " over 128");
    in.bytes(out.key.bytes.data(), 16);
    if (!in.failed() && out.key.is_v4()) in.fail("an IPv4-mapped address under the IPv6 tag");
  } else if (!in.failed()) {
    in.fail("unknown key tag " + std::to_string(tag));
  }
  std::uint64_t episodes = in.varint();
  if (episodes > 0xffffffffu) in.fail("episodes out of range");
  out.episodes = static_cast<std::uint32_t>(episodes);
  out.last_episode = unzigzag(in.varint());
  out.suspended_until = unzigzag(in.varint());
  out.flags = in.byte();
  std::uint64_t n = in.varint();
  // Each pair takes at least 2 bytes: a count beyond that is damage, not a reason to allocate.
  if (n > in.left() / 2) in.fail("more minutes (" + std::to_string(n) + ") than the record holds");
  out.minutes.clear();
  if (!in.failed()) out.minutes.reserve(n);
  std::int64_t minute = 0;
  for (std::uint64_t i = 0; i < n && !in.failed(); ++i) {
    // Minutes since the epoch fit in 32 bits for 8,000 years (Limiter::import's bound
    // too); checked before adding, so that the sum cannot overflow.
    std::uint64_t v = in.varint();
    if (i == 0) {
      minute = unzigzag(v);
      if (minute < 0 || minute > kMaxMinute) in.fail("a minute out of range");
    } else if (v == 0) {
      in.fail("minutes not in order");
    } else if (v > static_cast<std::uint64_t>(kMaxMinute - minute)) {
      in.fail("a minute out of range");
    } else {
      minute += static_cast<std::int64_t>(v);
    }
    std::uint64_t count = in.varint();
    if (count == 0 || count > 0xffffffffu) in.fail("a minute's count of " + std::to_string(count));
    out.minutes.push_back({minute, static_cast<std::uint32_t>(count)});
  }
  if (in.failed()) {
    error = in.error();
    return 0;
  }
  return in.at();
}

SourceJournal::SourceJournal(StateDb& db)
    : db_(db), insert_(db, "INSERT INTO source_journal (time, entries, states) VALUES (?, ?, ?)") {}

void SourceJournal::append(UnixSeconds time, const SourceJournalRecord& record) {
  insert_.bind(1, time)
      .bind(2, static_cast<std::int64_t>(record.entries()))
      .bind_blob_static(3, record.bytes().data(), record.bytes().size());
  insert_.run();
}

JournalFold SourceJournal::fold(SourceStateTable& table) {
  struct Record {
    std::int64_t id = 0;
    UnixSeconds time = 0;
    std::string blob;
  };
  // Where one entry is: its source, and its record and offset (later ones win).
  struct Entry {
    SourceKey key;
    std::uint32_t record = 0;
    std::uint32_t offset = 0;
  };
  JournalFold done;
  std::vector<Record> records;
  std::vector<Entry> entries;
  SourceState state;
  std::string error;
  auto damaged = [&](const Record& r, const std::string& what) {
    throw StateDbError("state database " + db_.path() + ": source_journal row " + std::to_string(r.id) +
                       " is damaged: " + what + " (move the file aside to start with empty state)");
  };
  {
    SqliteStatement select(db_, "SELECT id, time, states FROM source_journal ORDER BY id");
    while (select.step()) {
      Record& r = records.emplace_back();
      r.id = select.int64(0);
      r.time = select.int64(1);
      r.blob = std::string(select.blob(2));
      if (r.blob.size() > 0xffffffffu) damaged(r, "larger than 4 GB");
      for (std::size_t at = 0; at < r.blob.size();) {
        std::size_t next = decode_journal_entry(r.blob, at, state, error);
        if (next == 0) damaged(r, error);
        entries.push_back({state.key, static_cast<std::uint32_t>(records.size() - 1), static_cast<std::uint32_t>(at)});
        at = next;
      }
    }
  }
  if (records.empty()) return done;
  done.records = records.size();
  done.entries = entries.size();

  // Each source's last entry: by key, then record and offset; the last of each run.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    if (a.key != b.key) return a.key < b.key;
    return a.record != b.record ? a.record < b.record : a.offset < b.offset;
  });
  // In key order, which keeps consecutive writes within a few leaf pages of
  // source_state: its key is the source's text, whose order differs from the address's
  // only within the last group ("10.0.0.10" before "10.0.0.9"), a few pages at most.
  std::vector<const Entry*> last;  // each source's last entry, in key order
  last.reserve(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i)
    if (i + 1 == entries.size() || entries[i + 1].key != entries[i].key) last.push_back(&entries[i]);
  table.write_all(last.size(), [&](std::size_t i, SourceState& out) {
    const Record& r = records[last[i]->record];
    decode_journal_entry(r.blob, last[i]->offset, out, error);  // decoded once above: cannot fail
    return r.time;
  });
  done.sources = last.size();

  SqliteStatement erase(db_, "DELETE FROM source_journal WHERE id <= ?");
  erase.bind(1, records.back().id).run();
  return done;
}

}  // namespace whoisd
