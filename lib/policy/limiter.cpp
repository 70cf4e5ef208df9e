// How the limiter keeps a million sources in about 50 bytes each:
//
// Each shard is an open-addressing hash table (linear probing, backward-shift
// deletion, so no tombstones) of 32-byte slots: the 16-byte key, then either an
// INLINE record — a base minute and up to five 16-bit minute offsets, one per
// answered query — or the handle of a HEAVY record (in the RecordArena) with
// per-minute counts and the suspension state. A source that made a few queries (the
// overwhelming majority) never allocates; only sources with more than five queries
// in the window or with a suspension or episode history pay for a heavy record.
// Tables grow by 1.5x at 80 % load, so the load stays between 53 % and 80 %: 40-60
// bytes per source. A table of kGrowOffLoopMinSlots or more is grown by a thread of its
// own (shard_grower.h), so that an event loop inserting a source never stalls on the
// new table's page faults. A table of 2 MB or more is in transparent huge pages
// (huge_page_allocator.h), and so are the heavy records (record_arena.h): at random
// among millions of slots, a page walk per lookup is otherwise part of the miss.
//
// Why a decision on a heavy source usually reads its slot only: across a million
// sources both the slot and the record are cache misses (~150-200 ns each on the
// development VM), so the slot of a heavy source also CACHES what the common
// decision needs: the window's total, the newest minute with queries, how far back
// the oldest bucket is (its age), and how many queries of the newest minute are not
// yet in the record (`pending`). A decision that is in the newest minute, expires no
// bucket and stays under the limit only updates the slot; the record is read and
// written when the minute changes, a bucket leaves the window, the limit is reached,
// the source has a suspension or episode history (kEventful), or any other operation
// (sweep, export's fill_state, import, lift, suspend) looks at it. Invariants for a
// heavy slot: cached total = record's total + pending; pending queries are at minute
// `newest`; if the record holds buckets, its newest is at `newest` and its oldest at
// newest - age (age saturates at 0xFFFF, which sends every decision to the record);
// kEventful is set iff the record has a suspension (past or present), episodes, or a
// list entry.
//
// Times are kept as unix minutes in 32 bits (good until the year 10136).
#include "policy/limiter.h"

#include "policy/huge_page_allocator.h"
#include "policy/record_arena.h"
#include "policy/shard_grower.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>
#include <thread>
#include <type_traits>

namespace whoisd {
namespace {

using Minute = std::uint32_t;

constexpr std::uint8_t kOccupied = 1;
constexpr std::uint8_t kHeavy = 2;
constexpr std::uint8_t kDirty = 4;
constexpr std::uint8_t kEventful = 8;  // heavy: the decision must read the record (see the top)
constexpr std::uint8_t kSeen = 16;     // exported by the export_all() under way; its second walk clears it
constexpr std::uint16_t kAgeUnknown = 0xFFFF;
constexpr std::uint8_t kMaxPending = 0xFF;
constexpr int kInlineQueries = 5;
constexpr std::uint32_t kMaxEpisodes = 100000;  // keeps n x suspension far from overflowing
constexpr std::size_t kMinCapacity = 16;
// export_dirty fills at most this many states a lock hold, however many a shard has
// queued; export_all's walk takes about this many slots a lock hold (walk_in_chunks).
// The sweep's own step is Limiter::kSweepSlots.
constexpr std::size_t kExportChunk = 2048;
// export_all's pause between two chunks of a walk, for a loop waiting for the shard's
// lock to take it (see walk_in_chunks). With the timer's slack it is some 80 µs: an
// export_all of 2,000,000 sources (two walks, about 3,200 pauses) took 0.29 s, against
// 25-90 ms in one lock hold a shard (bench/README round 30); it runs once, after a
// failed write round, off the loops.
constexpr auto kWalkPause = std::chrono::microseconds(20);
constexpr std::size_t kMaxSourcesBound = 1'000'000'000;  // 32-bit minutes and handles are far from it
// From this capacity (256 KB of slots; on the development VM a growth from 1 MB took a
// millisecond or more of the inserting thread's CPU, bench/README.md round 28) a table
// past 80 % load is grown by the grower thread, while inserts go on into it; at 90 %
// the inserting thread grows it itself (the grower could not start, or is far behind:
// at 100,000 new sources a second, a shard of this size takes 130 ms to get there, and
// a growth off the loop takes a millisecond or less).
constexpr std::size_t kGrowOffLoopMinSlots = 8192;
// At max_sources: how many evictable slots a new source compares, and how far it looks
// for them (slots in a row from a point picked by its hash) before giving up. Usually
// about a dozen slots hold the samples; evictions thin the stretch they come from,
// so a run of empty slots can be long (64 was seen), and the reach is far longer: it
// is exhausted only when a shard holds almost nothing but suspended sources.
constexpr int kEvictionSamples = 8;
constexpr std::size_t kEvictionReach = 1024;

struct Key {
  std::uint64_t k0 = 0, k1 = 0;
};

Key to_key(const SourceKey& s) {
  Key k;
  std::memcpy(&k.k0, s.bytes.data(), 8);
  std::memcpy(&k.k1, s.bytes.data() + 8, 8);
  return k;
}

std::uint64_t hash_of(const Key& k) {
  // murmur3's finaliser over both halves: IPv4 keys differ only in k1, /64 keys only in k0.
  std::uint64_t x = k.k0 ^ (k.k1 * 0x9E3779B97F4A7C15ull) ^ (k.k1 >> 29);
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

struct Bucket {
  Minute minute;
  std::uint32_t count;
};

// One allocation: this header followed by a ring of `capacity` per-minute buckets,
// so that a decision on a heavy source touches its slot and this block, no more.
struct Heavy {
  UnixSeconds suspended_until = 0;
  UnixSeconds last_episode = 0;
  std::uint32_t episodes = 0;
  std::uint32_t total = 0;     // sum of live counts
  std::uint32_t head = 0;      // ring index of the oldest bucket
  std::uint32_t size = 0;      // live buckets, oldest first
  std::uint32_t capacity = 0;  // ring slots
  std::uint8_t flags = 0;      // SourceState::Flags
  bool listed = false;         // in its shard's `suspended` list

  Bucket* ring() { return reinterpret_cast<Bucket*>(this + 1); }
  const Bucket* ring() const { return reinterpret_cast<const Bucket*>(this + 1); }
  std::uint32_t index(std::uint32_t i) const {
    std::uint32_t j = head + i;
    return j >= capacity ? j - capacity : j;
  }
  Bucket& at(std::uint32_t i) { return ring()[index(i)]; }
  const Bucket& at(std::uint32_t i) const { return ring()[index(i)]; }
  Bucket& back() { return at(size - 1); }
  const Bucket& back() const { return at(size - 1); }
  const Bucket& front() const { return at(0); }
};
static_assert(alignof(Heavy) >= alignof(Bucket));
static_assert(sizeof(Heavy) % alignof(Bucket) == 0);

static_assert(std::is_trivially_copyable_v<Heavy> && alignof(Heavy) <= RecordArena::kUnit);

// The arena block of a record with a ring of `capacity` buckets.
std::size_t footprint(std::uint32_t capacity) {
  return RecordArena::block_size(sizeof(Heavy) + std::size_t{capacity} * sizeof(Bucket));
}
// The most buckets the block for at least `capacity` holds: the rest of the block is paid for anyway.
std::uint32_t usable_capacity(std::uint32_t capacity) {
  return static_cast<std::uint32_t>((footprint(capacity) - sizeof(Heavy)) / sizeof(Bucket));
}

struct Slot {
  std::uint64_t k0, k1;
  Minute base;                       // inline: the minute the offsets count from; heavy: `newest`
  std::uint8_t flags;                // kOccupied | kHeavy | kDirty | kEventful
  std::uint8_t n;                    // inline: queries held; heavy: `pending`
  std::uint16_t off[kInlineQueries]; // inline: minute - base, non-decreasing; heavy: age, handle, total
};
static_assert(sizeof(Slot) == 32, "a slot is half a cache line");

// The heavy form's fields in `off` (see the top): off[0] the age, off[1..2] the
// record's handle, off[3..4] the cached total.
std::uint32_t load32(const std::uint16_t* p) {
  std::uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
void store32(std::uint16_t* p, std::uint32_t v) { std::memcpy(p, &v, sizeof v); }
RecordArena::Handle handle_of(const Slot& s) { return load32(s.off + 1); }
std::uint32_t cached_total(const Slot& s) { return load32(s.off + 3); }
void set_cached_total(Slot& s, std::uint32_t total) { store32(s.off + 3, total); }

SourceKey to_source_key(const Slot& s, int ipv6_prefix) {
  SourceKey k;
  std::memcpy(k.bytes.data(), &s.k0, 8);
  std::memcpy(k.bytes.data() + 8, &s.k1, 8);
  k.prefix = static_cast<std::uint8_t>(k.is_v4() ? 32 : ipv6_prefix);
  return k;
}

Minute minute_of(UnixSeconds t) {
  if (t <= 0) return 0;
  auto m = t / 60;
  return m > 0xFFFFFFFFll ? 0xFFFFFFFFu : static_cast<Minute>(m);
}

}  // namespace

const char* to_string(Decision::Verdict verdict) {
  switch (verdict) {
    case Decision::Verdict::allow: return "allow";
    case Decision::Verdict::exempt: return "exempt";
    case Decision::Verdict::limit_crossed: return "limit_crossed";
    case Decision::Verdict::suspended: return "suspended";
  }
  return "unknown";
}

std::uint32_t SourceState::queries_in_window() const {
  std::uint64_t total = 0;
  for (const auto& m : minutes) total += m.count;
  return total > 0xFFFFFFFFull ? 0xFFFFFFFFu : static_cast<std::uint32_t>(total);
}

std::optional<std::string> validate(const LimiterConfig& c) {
  constexpr std::int64_t kYear = 366ll * 24 * 3600;
  if (c.queries < 1) return "limits.queries must be at least 1 (got 0)";
  if (c.window.count() < 60 || c.window.count() > kYear)
    return "limits.window must be between 1 minute and 366 days (got " + std::to_string(c.window.count()) + " s)";
  if (c.suspension.count() < 1 || c.suspension.count() > kYear)
    return "limits.suspension must be between 1 second and 366 days (got " + std::to_string(c.suspension.count()) +
           " s)";
  if (c.quiet_period.count() < 0 || c.quiet_period.count() > 10 * kYear)
    return "limits.quiet_period must be between 0 and 10 years (got " + std::to_string(c.quiet_period.count()) + " s)";
  if (c.ipv6_prefix < 1 || c.ipv6_prefix > 128)
    return "limits.ipv6_prefix must be from 1 to 128 (got " + std::to_string(c.ipv6_prefix) + ")";
  if (c.max_sources < Limiter::kShards || c.max_sources > kMaxSourcesBound)
    return "limits.max_sources must be from " + std::to_string(Limiter::kShards) + " to " +
           std::to_string(kMaxSourcesBound) + " (got " + std::to_string(c.max_sources) + ")";
  return std::nullopt;
}

namespace {

struct Config {
  std::uint32_t queries;
  Minute window_minutes;  // W: a decision at minute m counts minutes m - W .. m
  std::int64_t window_s;
  std::int64_t suspension_s;
  std::int64_t quiet_s;
  int ipv6_prefix;
  std::size_t shard_max_sources;  // max_sources / kShards, rounded up
  std::size_t max_sources;
  std::vector<Network> exempt;
  NetworkMap<std::uint32_t> limits;
};

std::unique_ptr<Config> build_config(const LimiterConfig& c) {
  if (auto error = validate(c)) throw std::invalid_argument(*error);
  auto cfg = std::make_unique<Config>();
  cfg->queries = c.queries;
  cfg->window_s = c.window.count();
  cfg->window_minutes = static_cast<Minute>((c.window.count() + 59) / 60);
  cfg->suspension_s = c.suspension.count();
  cfg->quiet_s = c.quiet_period.count();
  cfg->ipv6_prefix = c.ipv6_prefix;
  cfg->max_sources = c.max_sources;
  cfg->shard_max_sources = (c.max_sources + Limiter::kShards - 1) / Limiter::kShards;
  cfg->exempt = c.exempt;
  cfg->limits = c.network_limits;
  return cfg;
}

}  // namespace

using SlotTable = std::vector<Slot, HugePageAllocator<Slot>>;

struct Limiter::Impl {
  struct alignas(64) Shard {
    mutable std::mutex mu;
    SlotTable slots;
    RecordArena* arena = nullptr;
    std::size_t size = 0;
    std::size_t heavy = 0;
    std::size_t heavy_bytes = 0;
    std::vector<Key> dirty;      // keys whose slot has kDirty set, or that were forgotten
    std::vector<Key> suspended;  // keys whose Heavy has `listed` set
    std::size_t sweep_cursor = 0;
    std::uint64_t table_generation = 0;  // tables replaced so far: a walk in chunks restarts on a new one
    std::uint64_t evicted = 0;   // sources replaced at max_sources
    bool growth_requested = false;  // asked of the grower, which has not grown this table yet
    std::uint64_t growths_off_loop = 0;
    std::uint64_t growths_by_inserter = 0;
    std::atomic<std::size_t> size_hint{0};
    // Where `slots` is, for prefetch(), which reads these without the lock: stored
    // (under mu) whenever the table is replaced. A reader may see the address of a
    // table that has just been freed, or one from before a resize paired with the
    // other's capacity: a prefetch of a wrong address only wastes a memory access
    // (it never faults), and the atomics keep the reading race-free.
    std::atomic<std::uintptr_t> table_address{0};
    std::atomic<std::size_t> table_capacity{0};
  };

  const Clock& clock;
  int ipv6_prefix = 0;  // set once by the constructor (it cannot change): prefetch() reads it without a lock
  std::atomic<const Config*> config{nullptr};
  std::mutex config_mu;                        // reconfigure() against itself
  std::vector<std::unique_ptr<Config>> configs;  // every config ever current: check() may still read an old one
  RecordArena arena;                           // every shard's heavy records; declared before the shards, so destroyed after them
  Shard shards[kShards];

  std::mutex events_mu;
  std::vector<LimiterEvent> events;
  std::atomic<std::uint64_t> events_dropped{0};

  std::mutex sweep_mu;
  std::size_t sweep_shard = 0;

  std::mutex export_all_mu;  // one export_all() at a time: its kSeen marks are its own

  // Declared after the shards, so destroyed (its thread joined) before them.
  ShardGrower grower{[this](unsigned i) { grow_off_loop(shards[i]); }};

  explicit Impl(const Clock& c) : clock(c) {
    for (auto& s : shards) {
      s.slots.assign(kMinCapacity, Slot{});
      publish_table(s);
      s.arena = &arena;
    }
  }

  // Records need no destruction: they are trivially copyable and the arena unmaps them all.
  ~Impl() = default;

  static std::size_t home(const Key& k, std::size_t capacity) {
    auto h32 = static_cast<std::uint32_t>(hash_of(k));
    return static_cast<std::size_t>((std::uint64_t{h32} * capacity) >> 32);
  }
  static_assert(std::has_single_bit(kShards));
  static constexpr int kShardShift = 64 - std::countr_zero(kShards);  // the hash's top bits pick the shard
  Shard& shard_of(std::uint64_t hash) { return shards[hash >> kShardShift]; }
  const Shard& shard_of(std::uint64_t hash) const { return shards[hash >> kShardShift]; }

  static Slot* find(Shard& s, const Key& k) {
    std::size_t cap = s.slots.size();
    std::size_t i = home(k, cap);
    for (;;) {
      Slot& slot = s.slots[i];
      if (!(slot.flags & kOccupied)) return nullptr;
      if (slot.k0 == k.k0 && slot.k1 == k.k1) return &slot;
      if (++i == cap) i = 0;
    }
  }

  static void place(SlotTable& slots, const Slot& slot) {
    std::size_t cap = slots.size();
    std::size_t i = home(Key{slot.k0, slot.k1}, cap);
    while (slots[i].flags & kOccupied)
      if (++i == cap) i = 0;
    slots[i] = slot;
  }

  static void publish_table(Shard& s) {
    s.table_address.store(reinterpret_cast<std::uintptr_t>(s.slots.data()), std::memory_order_relaxed);
    s.table_capacity.store(s.slots.size(), std::memory_order_relaxed);
  }

  static std::size_t grown_capacity(std::size_t capacity) { return std::max(kMinCapacity, capacity * 3 / 2); }

  // Moves every source into `fresh` (empty, and larger than the shard's size), which
  // becomes the shard's table; `fresh` is left holding the old one.
  static void rehash_into(Shard& s, SlotTable& fresh) {
    for (const auto& slot : s.slots)
      if (slot.flags & kOccupied) place(fresh, slot);
    s.slots.swap(fresh);
    publish_table(s);
    ++s.table_generation;
    s.sweep_cursor = 0;
    s.growth_requested = false;
  }

  static void resize(Shard& s, std::size_t capacity) {
    SlotTable fresh(capacity, Slot{});
    rehash_into(s, fresh);
  }

  // Room for one more source in s's table (under s.mu): past 80 % load a table grows by
  // 1.5x, a large one on the grower's thread (see kGrowOffLoopMinSlots).
  void make_room(Shard& s) {
    const std::size_t capacity = s.slots.size();
    if ((s.size + 1) * 5 <= capacity * 4) return;
    if (capacity >= kGrowOffLoopMinSlots && (s.size + 1) * 10 <= capacity * 9) {
      if (s.growth_requested) return;
      if (grower.request(static_cast<unsigned>(&s - shards))) {
        s.growth_requested = true;
        return;
      }
    }
    resize(s, grown_capacity(capacity));
    ++s.growths_by_inserter;
  }

  // On the grower's thread: the new table is allocated and written (faulted in)
  // before the shard's lock is taken, and the old one freed after it is released, so
  // that an event loop waits for the rehash only, if it needs this shard meanwhile.
  void grow_off_loop(Shard& s) noexcept {
    std::size_t capacity;
    {
      std::lock_guard lock(s.mu);
      if (!s.growth_requested) return;
      capacity = s.slots.size();
    }
    SlotTable fresh;
    try {
      fresh.assign(grown_capacity(capacity), Slot{});
    } catch (const std::bad_alloc&) {
      // Out of memory: the inserting thread grows the table itself at 90 % (and
      // meets the same failure where it can report it).
      return;
    }
    std::lock_guard lock(s.mu);
    // Grown meanwhile (by an insert at 90 %, or shrunk by a sweep): that table is not
    // this one's to replace; a request made for it has its own call.
    if (!s.growth_requested || s.slots.size() != capacity) return;
    rehash_into(s, fresh);
    ++s.growths_off_loop;
  }  // the lock is released before `fresh`, now the old table, is freed

  // At the end of a sweep's pass, a table of `capacity` slots holding under a quarter
  // of that: to twice its sources. As the grower does, the smaller table is allocated
  // and faulted in before the shard's lock is taken and the old one freed after it is
  // released, so that an event loop needing the shard waits for the rehash only, not
  // for milliseconds of page faults (a table of millions of sources' flood, given
  // back a day later). Skipped (the next pass tries again) if the table was replaced
  // meanwhile or the shard has filled up again.
  static void shrink_table(Shard& s, std::size_t capacity) noexcept {
    std::size_t target;
    {
      std::lock_guard lock(s.mu);
      if (s.slots.size() != capacity) return;
      target = std::max(kMinCapacity, s.size * 2);
    }
    SlotTable fresh;
    try {
      fresh.assign(target, Slot{});
    } catch (const std::bad_alloc&) {
      return;  // the larger table stays: memory is short, not needed
    }
    std::lock_guard lock(s.mu);
    if (s.slots.size() != capacity || (s.size + 1) * 5 > target * 4) return;
    rehash_into(s, fresh);
  }  // the lock is released before `fresh`, now the old table, is freed

  // The slot for k, inserted empty (inline, no queries) if absent; `inserted` says which.
  // A shard holding `max_sources` already makes room first (evict_one).
  Slot& find_or_insert(Shard& s, const Key& k, bool& inserted, std::size_t max_sources) {
    inserted = false;
    if (Slot* found = find(s, k)) return *found;
    if (s.size >= max_sources) evict_one(s, k);
    make_room(s);
    std::size_t cap = s.slots.size();
    std::size_t i = home(k, cap);
    while (s.slots[i].flags & kOccupied)
      if (++i == cap) i = 0;
    Slot& slot = s.slots[i];
    slot = Slot{};
    slot.k0 = k.k0;
    slot.k1 = k.k1;
    slot.flags = kOccupied;
    ++s.size;
    s.size_hint.store(s.size, std::memory_order_relaxed);
    inserted = true;
    return slot;
  }

  // The last minute a source made a query in (0: none held), for evict_one and redate_inline.
  static Minute newest_minute(const Slot& slot) {
    if (slot.flags & kHeavy) return cached_total(slot) ? slot.base : 0;
    return slot.n ? slot.base + slot.off[slot.n - 1] : 0;
  }

  // Removes the source that matters least among up to kEvictionSamples slots, read in a
  // row from a point the incoming key's hash picks (a different point for each new
  // source, so that over many the choice is spread over the table): an inline source
  // (at most five queries) before a heavy one, then the oldest last query. A source
  // with a suspension history (kEventful) is never taken: replacing it would end a
  // suspension or forget an episode, which a flood of new sources must not be able to
  // do. Returns false (nothing removed) when no sample could be taken.
  static bool evict_one(Shard& s, const Key& incoming) {
    const std::size_t cap = s.slots.size();
    const auto pick = static_cast<std::uint32_t>((hash_of(incoming) * 0x9E3779B97F4A7C15ull) >> 32);
    std::size_t i = static_cast<std::size_t>((std::uint64_t{pick} * cap) >> 32);
    std::size_t best = cap;
    std::uint64_t best_rank = std::numeric_limits<std::uint64_t>::max();
    int samples = 0;
    for (std::size_t looked = 0; looked < kEvictionReach && samples < kEvictionSamples; ++looked) {
      const Slot& slot = s.slots[i];
      if ((slot.flags & kOccupied) && !((slot.flags & kHeavy) && (slot.flags & kEventful))) {
        ++samples;
        const std::uint64_t rank = (std::uint64_t{(slot.flags & kHeavy) != 0} << 32) | newest_minute(slot);
        if (rank < best_rank) {
          best_rank = rank;
          best = i;
        }
      }
      if (++i == cap) i = 0;
    }
    if (best == cap) return false;
    erase_at(s, best);  // exported as forgotten: lib/state deletes its row
    ++s.evicted;
    return true;
  }

  static void mark_dirty(Shard& s, Slot& slot) {
    if (slot.flags & kDirty) return;
    slot.flags |= kDirty;
    s.dirty.push_back(Key{slot.k0, slot.k1});
  }

  // ---- heavy records ----

  static Heavy* record(const Shard& s, const Slot& slot) { return static_cast<Heavy*>(s.arena->at(handle_of(slot))); }

  // A new record (in s.arena) holding `from`'s fields and buckets (if any) in a ring of
  // at least `capacity`; returns its handle.
  static RecordArena::Handle new_record(Shard& s, std::uint32_t capacity, const Heavy* from = nullptr) {
    capacity = usable_capacity(capacity);
    RecordArena::Handle handle = s.arena->allocate(footprint(capacity));
    Heavy* h = new (s.arena->at(handle)) Heavy;
    if (from) {
      *h = *from;
      h->head = 0;
      for (std::uint32_t i = 0; i < from->size; ++i) h->ring()[i] = from->at(i);
    }
    h->capacity = capacity;
    s.heavy_bytes += footprint(capacity);
    return handle;
  }
  static void free_record(Shard& s, const Slot& slot) {
    std::size_t bytes = footprint(record(s, slot)->capacity);
    s.heavy_bytes -= bytes;
    s.arena->release(handle_of(slot), bytes);
  }

  // Removes the slot at index j, shifting later members of its probe run back.
  static void erase_at(Shard& s, std::size_t j) {
    Slot& victim = s.slots[j];
    if (!(victim.flags & kDirty)) s.dirty.push_back(Key{victim.k0, victim.k1});  // export the forgetting
    if (victim.flags & kHeavy) {
      free_record(s, victim);
      --s.heavy;
    }
    std::size_t cap = s.slots.size();
    std::size_t i = j;
    for (;;) {
      if (++i == cap) i = 0;
      if (!(s.slots[i].flags & kOccupied)) break;
      std::size_t h = home(Key{s.slots[i].k0, s.slots[i].k1}, cap);
      // The member at i may fill the hole at j if j lies cyclically within [h, i).
      bool movable = (i > j) ? (h <= j || h > i) : (h <= j && h > i);
      if (movable) {
        s.slots[j] = s.slots[i];
        j = i;
      }
    }
    s.slots[j] = Slot{};
    --s.size;
    s.size_hint.store(s.size, std::memory_order_relaxed);
  }

  // ---- the two record forms ----

  // Drops inline queries older than `lo`, rebasing so that offsets stay small.
  static void prune_inline(Slot& slot, Minute lo) {
    int k = 0;
    while (k < slot.n && slot.base + slot.off[k] < lo) ++k;
    if (k == 0) return;
    int n = slot.n - k;
    if (n == 0) {
      slot.n = 0;
      return;
    }
    std::uint16_t shift = slot.off[k];
    for (int i = 0; i < n; ++i) slot.off[i] = static_cast<std::uint16_t>(slot.off[k + i] - shift);
    slot.base += shift;
    slot.n = static_cast<std::uint8_t>(n);
  }

  // Drops buckets older than `lo`. Never reallocates: references to the record stay valid.
  static void prune_heavy(Heavy& h, Minute lo) {
    while (h.size && h.front().minute < lo) {
      h.total -= h.front().count;
      h.head = h.index(1);
      --h.size;
    }
    if (h.size == 0) h.head = 0;
  }

  // A record never holds a time later than now. Queries counted while the clock was
  // ahead (a forward step, later corrected) are re-dated to now: they were made
  // recently, so they still count, and they leave the window a window from now
  // instead of staying in it until real time reaches the stepped clock's minutes.
  // Re-dating moves answers later, never earlier: the limit holds in any window
  // (over-blocking by at most the step). A small step back (NTP at boot) is the same
  // case, by seconds. Says whether anything moved.
  static bool redate_inline(Slot& slot, Minute m) {
    if (newest_minute(slot) <= m) return false;  // the common case: nothing ahead of now
    if (slot.base > m) {
      slot.base = m;
      for (int i = 0; i < slot.n; ++i) slot.off[i] = 0;
      return true;
    }
    const auto latest = static_cast<std::uint16_t>(m - slot.base);  // < the newest offset: fits
    for (int i = 0; i < slot.n; ++i) slot.off[i] = std::min(slot.off[i], latest);
    return true;
  }

  // The same for a record (after open(); the caller refreshes the slot), and for a
  // suspension that started in the future: it is moved to start now, keeping its
  // length, so that a 24-hour suspension imposed while the clock was a year ahead
  // does not last a year and a day. Says whether anything moved.
  static bool redate_heavy(Shard& s, Slot& slot, Heavy& h, UnixSeconds now) {
    bool moved = false;
    const Minute m = minute_of(now);
    if (h.size && h.back().minute > m) {
      std::uint32_t later = 0;
      while (h.size && h.back().minute > m) {
        later += h.back().count;
        --h.size;
      }
      if (h.size == 0) h.head = 0;
      h.total -= later;
      add_queries(s, slot, m, later);  // at most one bucket back where one or more left: no reallocation
      moved = true;
    }
    if (h.last_episode > now) {
      const UnixSeconds ahead = h.last_episode - now;
      h.last_episode = now;
      if (h.suspended_until != 0) h.suspended_until = std::max<UnixSeconds>(1, h.suspended_until - ahead);
      moved = true;
    }
    if (moved) mark_dirty(s, slot);
    return moved;
  }

  // Replaces the slot's record by one with a ring of `capacity` (>= its size).
  static Heavy& reallocate(Shard& s, Slot& slot, std::uint32_t capacity) {
    RecordArena::Handle fresh = new_record(s, capacity, record(s, slot));
    free_record(s, slot);
    store32(slot.off + 1, fresh);
    return *record(s, slot);
  }

  // Adds `count` answered queries at minute m (not older than the newest bucket) to
  // the record (not to the slot's cache: the caller refreshes it). May reallocate:
  // returns the record to use from then on.
  static Heavy& add_queries(Shard& s, Slot& slot, Minute m, std::uint32_t count) {
    Heavy* h = record(s, slot);
    if (h->size && h->back().minute == m) {
      h->back().count += count;
    } else {
      if (h->size == h->capacity) h = &reallocate(s, slot, h->capacity * 2);
      h->ring()[h->index(h->size)] = Bucket{m, count};
      ++h->size;
    }
    h->total += count;
    return *h;
  }

  // The record, with the slot's pending queries moved into it: what every operation
  // other than the slot-only decision works on. Follow with refresh().
  static Heavy& open(Shard& s, Slot& slot) {
    if (slot.n) {
      std::uint8_t pending = slot.n;
      slot.n = 0;
      return add_queries(s, slot, slot.base, pending);
    }
    return *record(s, slot);
  }

  // Recomputes the slot's cache from its record (which holds everything: pending is 0).
  static void refresh(const Shard& s, Slot& slot) {
    const Heavy& h = *record(s, slot);
    if (h.size) {
      slot.base = h.back().minute;
      Minute age = h.back().minute - h.front().minute;
      slot.off[0] = age < kAgeUnknown ? static_cast<std::uint16_t>(age) : kAgeUnknown;
    } else {
      slot.off[0] = 0;
    }
    set_cached_total(slot, h.total);
    refresh_flags(s, slot);
  }

  // Gives back most of a ring that a burst grew and that now holds little.
  static void shrink(Shard& s, Slot& slot) {
    Heavy* h = record(s, slot);
    if (h->capacity > 8 && h->size * 4 < h->capacity) reallocate(s, slot, std::max<std::uint32_t>(4, h->size * 2));
  }

  // Turns an inline slot into a heavy one holding the same queries (cache refreshed).
  static void make_heavy(Shard& s, Slot& slot) {
    if (slot.flags & kHeavy) return;
    int n = slot.n;
    Minute base = slot.base;
    std::uint16_t off[kInlineQueries];
    std::memcpy(off, slot.off, sizeof off);
    std::uint32_t minutes = n ? 1 : 0;
    for (int i = 1; i < n; ++i) minutes += off[i] != off[i - 1];
    RecordArena::Handle handle = new_record(s, minutes + 1);  // room for the query that made it heavy
    ++s.heavy;
    slot.n = 0;
    store32(slot.off + 1, handle);
    slot.flags |= kHeavy;
    for (int i = 0; i < n; ++i) add_queries(s, slot, base + off[i], 1);
    refresh(s, slot);
  }

  // A suspension is in force until its end, unless its end was already reported: a
  // clock stepped back past a reported end must not enforce what the abuse log, the
  // metrics and whoisd-admin already call ended.
  static bool in_force(const Heavy& h, UnixSeconds now) {
    return SourceState::suspension_in_force_at(h.suspended_until, h.flags, now);
  }

  // A heavy record that holds no more than an inline one could goes back inline.
  // The slot's pending queries must have been moved into the record (open()).
  static void maybe_make_inline(Shard& s, Slot& slot, UnixSeconds now) {
    Heavy* h = record(s, slot);
    if (h->episodes != 0 || h->listed || in_force(*h, now) || h->total > kInlineQueries) return;
    if (h->total > 0 && h->back().minute - h->front().minute > 0xFFFF) return;
    Minute base = h->total ? h->front().minute : 0;
    std::uint8_t n = 0;
    std::uint16_t off[kInlineQueries] = {};
    for (std::uint32_t b = 0; b < h->size; ++b)
      for (std::uint32_t c = 0; c < h->at(b).count; ++c) off[n++] = static_cast<std::uint16_t>(h->at(b).minute - base);
    free_record(s, slot);
    --s.heavy;
    slot.flags = static_cast<std::uint8_t>(slot.flags & ~(kHeavy | kEventful));
    slot.base = base;
    slot.n = n;
    std::memcpy(slot.off, off, sizeof off);
  }

  static Minute window_start(Minute m, const Config& cfg) { return m >= cfg.window_minutes ? m - cfg.window_minutes : 0; }

  // Quiet for the quiet period since its last suspension ended: its next episode is the
  // first again.
  static bool quiet_long_enough(const Heavy& h, UnixSeconds now, const Config& cfg) {
    return h.suspended_until + cfg.quiet_s <= now;
  }

  // The episodes are forgotten lazily, when the source is next decided on or swept;
  // anything about to set a new suspension end does it first, or the end it sets would
  // hide the quiet period and bring forgotten episodes back.
  static void forget_episodes_if_quiet(Shard& s, Slot& slot, Heavy& h, UnixSeconds now, const Config& cfg) {
    if (h.episodes && quiet_long_enough(h, now, cfg)) {
      h.episodes = 0;
      mark_dirty(s, slot);
    }
  }

  // Nothing the source did can still affect a decision or needs reporting.
  static bool forgettable(const Heavy& h, UnixSeconds now, const Config& cfg) {
    if (h.total != 0 || h.listed || in_force(h, now)) return false;
    return h.episodes == 0 || quiet_long_enough(h, now, cfg);
  }

  // Walks every source of s's table a chunk of about kExportChunk slots at a time, each
  // chunk under s.mu once, so that a loop needing the shard waits for a chunk, not for
  // the whole table (tens of milliseconds at a million sources). visit(slot) runs under
  // the lock for each occupied slot, between() after each chunk with the lock released.
  // The loops insert and evict and the sweep forgets meanwhile; a source in the table
  // from the walk's start to its end is still visited:
  //  - a chunk ends at an empty slot. A source past that slot has its home past it too
  //    (its probe from home met no empty slot), and erase_at's backward shift moves a
  //    source only towards its home: never behind the walk;
  //  - a table replaced between chunks (grown or shrunk) restarts the walk on the new one.
  // So a source may be visited twice (after a restart, or shifted back across the
  // table's end from its start): visit must tell.
  template <class Visit, class Between>
  static void walk_in_chunks(Shard& s, Visit&& visit, Between&& between) {
    std::size_t cursor = 0;
    std::uint64_t generation = 0;
    bool started = false;
    for (;;) {
      bool more = false;  // past this chunk, the table has slots to walk
      {
        std::lock_guard lock(s.mu);
        if (!started || s.table_generation != generation) {
          cursor = 0;
          generation = s.table_generation;
          started = true;
        }
        if (cursor >= s.slots.size()) return;
        for (std::size_t budget = kExportChunk; cursor < s.slots.size(); ++cursor) {
          Slot& slot = s.slots[cursor];
          if (slot.flags & kOccupied) {
            visit(slot);
          } else if (budget == 0) {
            break;  // at an empty slot: see above
          }
          if (budget > 0) --budget;
        }
        more = cursor < s.slots.size();  // read under the lock: the grower may replace the table
      }
      between();
      // A loop that waited for the lock was woken when it was released, but needs some
      // microseconds to run; relocked at once, the lock goes to this thread again and
      // again (std::mutex is not fair), and the loop waits for the whole walk after all
      // (2 ms a shard of 125,000 sources, bench/README round 30).
      if (more) std::this_thread::sleep_for(kWalkPause);
    }
  }

  void fill_state(const Slot& slot, SourceState& out, Minute lo, int prefix) const {
    out.key = to_source_key(slot, prefix);
    out.minutes.clear();
    out.episodes = 0;
    out.last_episode = 0;
    out.suspended_until = 0;
    out.flags = 0;
    auto add = [&](Minute m, std::uint32_t c) {
      if (m < lo) return;
      if (!out.minutes.empty() && out.minutes.back().minute == m)
        out.minutes.back().count += c;
      else
        out.minutes.push_back(MinuteCount{m, c});
    };
    if (slot.flags & kHeavy) {
      const Heavy* h = static_cast<const Heavy*>(arena.at(handle_of(slot)));
      for (std::uint32_t b = 0; b < h->size; ++b) add(h->at(b).minute, h->at(b).count);
      if (slot.n) add(slot.base, slot.n);  // pending: the newest minute's queries not yet in the record
      out.episodes = h->episodes;
      out.last_episode = h->last_episode;
      out.suspended_until = h->suspended_until;
      out.flags = h->flags;
    } else {
      for (int i = 0; i < slot.n; ++i) add(slot.base + slot.off[i], 1);
    }
  }

  // Emits suspension_expired for the shard's suspensions that have ended; drops
  // list entries that no longer name a listed suspension. Caller holds s.mu.
  static void collect_expired(Shard& s, UnixSeconds now, int prefix, std::vector<LimiterEvent>& out) {
    std::size_t keep = 0;
    for (std::size_t i = 0; i < s.suspended.size(); ++i) {
      Key k = s.suspended[i];
      Slot* slot = find(s, k);
      if (!slot || !(slot->flags & kHeavy)) continue;
      Heavy* h = record(s, *slot);
      if (!h->listed) continue;
      if (h->suspended_until > now) {
        s.suspended[keep++] = k;
        continue;
      }
      h->listed = false;
      if (!(h->flags & SourceState::kExpiryReported)) {
        h->flags |= SourceState::kExpiryReported;
        LimiterEvent e;
        e.kind = LimiterEvent::Kind::suspension_expired;
        e.source = to_source_key(*slot, prefix);
        e.at = h->suspended_until;
        e.until = h->suspended_until;
        e.episode = h->episodes;
        e.manual = (h->flags & SourceState::kManualSuspension) != 0;
        out.push_back(e);
        mark_dirty(s, *slot);
      }
      refresh_flags(s, *slot);
    }
    s.suspended.resize(keep);
  }

  // Updates kEventful alone (the record's buckets did not change).
  static void refresh_flags(const Shard& s, Slot& slot) {
    const Heavy& h = *record(s, slot);
    bool eventful = h.suspended_until != 0 || h.episodes != 0 || h.listed;
    slot.flags = static_cast<std::uint8_t>(eventful ? slot.flags | kEventful : slot.flags & ~kEventful);
  }

  // A record is `listed` exactly when its key has one entry in the shard's list, so
  // that the list's size is the number of suspensions in force (a suspension that has
  // just ended stays until the next collect_expired()).
  static void list_suspension(Shard& s, Slot& slot) {
    Heavy* h = record(s, slot);
    if (h->listed) return;
    h->listed = true;
    s.suspended.push_back(Key{slot.k0, slot.k1});
  }

  // The other way: an operator's lift, or a state import that replaces a listed source.
  // Both are rare, so a scan of the shard's list is fine.
  static void unlist_suspension(Shard& s, Slot& slot) {
    Heavy* h = record(s, slot);
    if (!h->listed) return;
    h->listed = false;
    for (Key& k : s.suspended)
      if (k.k0 == slot.k0 && k.k1 == slot.k1) {
        k = s.suspended.back();
        s.suspended.pop_back();
        return;
      }
  }

  void queue_events(std::vector<LimiterEvent>& batch) {
    if (batch.empty()) return;
    std::lock_guard lock(events_mu);
    for (auto& e : batch) {
      if (events.size() >= kMaxQueuedEvents) {
        events_dropped.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      events.push_back(e);
    }
    batch.clear();
  }
};

Limiter::Limiter(LimiterConfig config, const Clock& clock) : impl_(std::make_unique<Impl>(clock)) {
  reconfigure(std::move(config));
  impl_->ipv6_prefix = impl_->config.load(std::memory_order_relaxed)->ipv6_prefix;
}

Limiter::~Limiter() = default;

int Limiter::ipv6_prefix() const { return impl_->config.load(std::memory_order_acquire)->ipv6_prefix; }

SourceKey Limiter::key_of(const IpAddress& client) const { return source_key(client, ipv6_prefix()); }

bool Limiter::exempt(const SourceKey& source) const {
  const Config& cfg = *impl_->config.load(std::memory_order_acquire);
  // Prefix lengths compared in IpAddress's 128-bit form (IPv4 is ::ffff:a.b.c.d).
  const int source_bits = source.is_v4() ? 96 + source.prefix : source.prefix;
  for (const auto& n : cfg.exempt) {
    const int network_bits = n.base().is_v4() ? 96 + n.prefix() : n.prefix();
    if (network_bits <= source_bits && n.contains(source.address())) return true;
  }
  return false;
}

std::vector<std::string> Limiter::reconfigure(LimiterConfig config) {
  std::vector<std::string> warnings;
  auto cfg = build_config(config);  // throws on an unusable config, before anything changes
  std::lock_guard lock(impl_->config_mu);
  if (const Config* old = impl_->config.load(std::memory_order_acquire); old && old->ipv6_prefix != cfg->ipv6_prefix) {
    warnings.push_back("limits.ipv6_prefix changed from " + std::to_string(old->ipv6_prefix) + " to " +
                       std::to_string(cfg->ipv6_prefix) + ": ignored until restart (sources are keyed by it)");
    cfg->ipv6_prefix = old->ipv6_prefix;
  }
  impl_->configs.push_back(std::move(cfg));
  impl_->config.store(impl_->configs.back().get(), std::memory_order_release);
  return warnings;
}

Decision Limiter::check(const IpAddress& client) {
  Impl& im = *impl_;
  const Config& cfg = *im.config.load(std::memory_order_acquire);
  Decision d;
  d.limit = cfg.queries;
  for (const auto& n : cfg.exempt) {
    if (n.contains(client)) {
      d.verdict = Decision::Verdict::exempt;
      d.source = source_key(client, cfg.ipv6_prefix);
      d.limit = 0;
      return d;
    }
  }
  if (!cfg.limits.empty())
    if (const std::uint32_t* own = cfg.limits.find(client)) d.limit = *own;
  d.source = source_key(client, cfg.ipv6_prefix);
  const UnixSeconds now = im.clock.now();
  Key k = to_key(d.source);
  std::uint64_t hash = hash_of(k);
  Impl::Shard& s = im.shard_of(hash);
  std::lock_guard lock(s.mu);
  bool inserted;
  Slot& slot = im.find_or_insert(s, k, inserted, cfg.shard_max_sources);
  Minute m = minute_of(now);

  if (!(slot.flags & kHeavy)) {
    // The common case: a source with a handful of queries and no history.
    Impl::redate_inline(slot, m);  // the clock stepped back: the query marks it dirty
    Impl::prune_inline(slot, Impl::window_start(m, cfg));
    if (slot.n + 1u <= d.limit && (slot.n == 0 || (slot.n < kInlineQueries && m - slot.base <= 0xFFFF))) {
      if (slot.n == 0) slot.base = m;
      slot.off[slot.n] = static_cast<std::uint16_t>(m - slot.base);
      d.count = ++slot.n;
      Impl::mark_dirty(s, slot);
      return d;
    }
    Impl::make_heavy(s, slot);  // no room inline, or about to be suspended
  }
  if (!(slot.flags & kEventful)) {
    // A heavy source with no suspension history: its slot alone decides while the
    // query falls in the newest minute, no bucket leaves the window and the limit is
    // not reached (see the top). Same outcome as the full path below, without
    // reading the record.
    const std::uint32_t total = cached_total(slot);
    // A newest minute later than now (the clock stepped back) is not `m`: the full
    // path below re-dates it.
    const bool expires = total && (slot.off[0] == kAgeUnknown || slot.base - slot.off[0] < Impl::window_start(m, cfg));
    if (!expires && std::uint64_t{total} + 1 <= d.limit && slot.n < kMaxPending && (total == 0 || m == slot.base)) {
      if (total == 0) {
        slot.base = m;
        slot.off[0] = 0;
      }
      ++slot.n;
      set_cached_total(slot, total + 1);
      d.count = total + 1;
      Impl::mark_dirty(s, slot);
      return d;
    }
  }
  {
    Heavy* hp = &Impl::open(s, slot);
    Impl::redate_heavy(s, slot, *hp, now);
    if (Impl::in_force(*hp, now)) {
      const Heavy& h = *hp;
      d.verdict = Decision::Verdict::suspended;
      d.suspended_until = h.suspended_until;
      d.episode = h.episodes;
      d.manual = (h.flags & SourceState::kManualSuspension) != 0;
      d.count = h.total;
      Impl::refresh(s, slot);
      return d;
    }
    Impl::forget_episodes_if_quiet(s, slot, *hp, now, cfg);
    Impl::prune_heavy(*hp, Impl::window_start(m, cfg));
    if (std::uint64_t{hp->total} + 1 <= d.limit) {
      d.count = Impl::add_queries(s, slot, m, 1).total;
      Impl::refresh(s, slot);
      Impl::mark_dirty(s, slot);
      return d;
    }
    Heavy& h = *hp;
    // This query would exceed the limit: refuse it and start the next episode.
    if (h.episodes < kMaxEpisodes) ++h.episodes;
    h.last_episode = now;
    h.suspended_until = now + static_cast<std::int64_t>(h.episodes) * cfg.suspension_s;
    h.flags = 0;
    // Answers that will have left the window when the suspension ends can no longer
    // matter: drop them now, so that the source starts afresh then (with the default
    // suspension >= window, that is all of them). Judged in seconds, not minutes: all
    // of them were made at or before `now`, so a minute's bucket is dropped once
    // min(its last second, now) is a full window before the end.
    const UnixSeconds cutoff = h.suspended_until - cfg.window_s;  // answers at or before it are out
    if (now <= cutoff)
      Impl::prune_heavy(h, std::numeric_limits<Minute>::max());
    else if (cutoff >= 0)
      Impl::prune_heavy(h, minute_of(cutoff + 1));
    Impl::list_suspension(s, slot);
    Impl::refresh(s, slot);
    Impl::mark_dirty(s, slot);
    d.verdict = Decision::Verdict::limit_crossed;
    d.suspended_until = h.suspended_until;
    d.episode = h.episodes;
    d.count = h.total;
    LimiterEvent started;
    started.kind = LimiterEvent::Kind::suspension_started;
    started.source = d.source;
    started.at = now;
    started.until = h.suspended_until;
    started.episode = h.episodes;
    started.limit = d.limit;
    std::vector<LimiterEvent> batch{started};
    im.queue_events(batch);  // rare; lock order is always shard, then events
  }
  return d;
}

void Limiter::prefetch(const IpAddress& client) const noexcept {
  const Impl& im = *impl_;
  const Key k = to_key(source_key(client, im.ipv6_prefix));
  const Impl::Shard& s = im.shard_of(hash_of(k));
  // Integers, not pointers: the table may be gone by now (see table_address), and
  // arithmetic on a pointer to freed memory would be undefined; a prefetch of any
  // address is not.
  const std::uintptr_t table = s.table_address.load(std::memory_order_relaxed);
  const std::size_t capacity = s.table_capacity.load(std::memory_order_relaxed);
  // The home slot and the next one: with linear probing at 53-80 % load a source
  // often sits one slot past its home, which is in the next cache line when the home
  // is the second half of one (bench_limiter's prefetched runs: 0-14 % faster than
  // the home slot alone, never slower; bench/README.md). For writing (check()
  // updates the slot), kept in every cache level.
  const std::uintptr_t at = table + Impl::home(k, capacity) * sizeof(Slot);
  __builtin_prefetch(reinterpret_cast<const void*>(at), 1, 3);
  __builtin_prefetch(reinterpret_cast<const void*>(at + sizeof(Slot)), 1, 3);
}

LiftResult Limiter::lift(const SourceKey& source, bool forget_episodes) {
  Impl& im = *impl_;
  LiftResult r;
  const UnixSeconds now = im.clock.now();
  Key k = to_key(source);
  Impl::Shard& s = im.shard_of(hash_of(k));
  std::lock_guard lock(s.mu);
  Slot* slot = Impl::find(s, k);
  if (!slot || !(slot->flags & kHeavy)) return r;
  // Re-dated first, as suspend() and a decision do: a suspension that started while
  // the clock was ahead would otherwise end (now) before it started, and the re-dating
  // at the next decision would then move that end back by the step, cutting the quiet
  // period short by as much (episodes forgotten days early).
  Heavy& h = Impl::open(s, *slot);
  Impl::redate_heavy(s, *slot, h, now);
  if (Impl::in_force(h, now)) {
    r.was_suspended = true;
    r.previous_until = h.suspended_until;
    r.previous_manual = (h.flags & SourceState::kManualSuspension) != 0;
    h.suspended_until = now;
    h.flags |= SourceState::kExpiryReported;  // ended by an operator, which lib/state records itself
    Impl::unlist_suspension(s, *slot);
    Impl::mark_dirty(s, *slot);
  }
  if (forget_episodes && h.episodes) {
    r.episodes_forgotten = h.episodes;
    h.episodes = 0;
    Impl::mark_dirty(s, *slot);
  }
  r.episodes = h.episodes;
  Impl::refresh(s, *slot);  // open() moved the slot's pending queries into the record
  return r;
}

SuspendResult Limiter::suspend(const SourceKey& source, std::chrono::seconds duration) {
  if (duration.count() <= 0) throw std::invalid_argument("suspension of " + std::to_string(duration.count()) +
                                                         " s for " + to_string(source) + ": must be positive");
  Impl& im = *impl_;
  SuspendResult r;
  const UnixSeconds now = im.clock.now();
  const UnixSeconds until = now + duration.count();
  Key k = to_key(source);
  Impl::Shard& s = im.shard_of(hash_of(k));
  std::lock_guard lock(s.mu);
  // A suspension in force that ends as late or later is left as it is, its kind
  // included: decided under the shard's lock, so that a limit suspension starting
  // meanwhile cannot be cut short either.
  if (Slot* found = Impl::find(s, k); found && (found->flags & kHeavy)) {
    Heavy& current = Impl::open(s, *found);
    Impl::redate_heavy(s, *found, current, now);  // one that started in the future is judged by its length
    Impl::refresh(s, *found);
    const bool current_in_force = Impl::in_force(current, now);
    if (current_in_force) {
      r.previous_until = current.suspended_until;
      r.previous_manual = (current.flags & SourceState::kManualSuspension) != 0;
    }
    if (current_in_force && current.suspended_until >= until) {
      r.kept = true;
      r.until = current.suspended_until;
      r.episodes = current.episodes;
      return r;
    }
  }
  const Config& cfg = *im.config.load(std::memory_order_acquire);
  bool inserted;
  Slot& slot = im.find_or_insert(s, k, inserted, cfg.shard_max_sources);
  Impl::make_heavy(s, slot);
  Heavy& h = Impl::open(s, slot);
  Impl::forget_episodes_if_quiet(s, slot, h, now, cfg);
  h.suspended_until = until;
  h.last_episode = now;
  h.flags = SourceState::kManualSuspension;
  Impl::list_suspension(s, slot);
  Impl::refresh(s, slot);
  Impl::mark_dirty(s, slot);
  r.until = h.suspended_until;
  r.episodes = h.episodes;
  return r;
}

std::size_t Limiter::export_dirty(const std::function<void(const SourceState&)>& sink) {
  Impl& im = *impl_;
  const Config& cfg = *im.config.load(std::memory_order_acquire);
  const Minute lo = Impl::window_start(minute_of(im.clock.now()), cfg);
  // A key queued twice (forgotten, then back) is sent twice, the same state: harmless.
  std::vector<SourceState> batch;  // reused: its states keep their minutes' capacity
  std::size_t total = 0;
  for (auto& s : im.shards) {
    std::vector<Key> keys;
    {
      std::lock_guard lock(s.mu);
      keys.swap(s.dirty);  // the shard starts a new list without capacity: a burst's memory goes back
    }
    // Filled a chunk at a time, each under the lock once: a sweep's mass departure or a
    // flood of new sources queues tens of thousands of keys in one shard, and the lock
    // held for all of them kept a loop waiting for milliseconds (bench/README, round 29).
    // A source changed between the swap and its chunk is exported as it is by then; its
    // dirty mark, still set, kept it off the new list, and is cleared here.
    for (std::size_t from = 0; from < keys.size(); from += kExportChunk) {
      const std::size_t n = std::min(kExportChunk, keys.size() - from);
      if (batch.size() < n) batch.resize(n);
      {
        std::lock_guard lock(s.mu);
        for (std::size_t i = 0; i < n; ++i) {
          const Key& k = keys[from + i];
          if (Slot* slot = Impl::find(s, k)) {
            slot->flags = static_cast<std::uint8_t>(slot->flags & ~kDirty);
            im.fill_state(*slot, batch[i], lo, cfg.ipv6_prefix);
          } else {
            Slot gone{};
            gone.k0 = k.k0;
            gone.k1 = k.k1;
            im.fill_state(gone, batch[i], lo, cfg.ipv6_prefix);
          }
        }
      }
      for (std::size_t i = 0; i < n; ++i) sink(batch[i]);
      total += n;
    }
  }
  im.arena.prefault_spare();  // after the sink's I/O: the loops allocate from it until the next export
  return total;
}

std::size_t Limiter::export_all(const std::function<void(const SourceState&)>& sink) {
  Impl& im = *impl_;
  const Config& cfg = *im.config.load(std::memory_order_acquire);
  const Minute lo = Impl::window_start(minute_of(im.clock.now()), cfg);
  std::lock_guard export_lock(im.export_all_mu);
  // A source is exported once though the walk may visit it twice: kSeen marks it, and a
  // second walk clears the marks (whatever happens to the export, so that none is left to
  // hide a source from the next one). The sink sees each chunk with the lock released,
  // so that the loops' decisions never wait for its I/O.
  const auto clear_marks = [&] {
    for (auto& s : im.shards)
      Impl::walk_in_chunks(
          s, [](Slot& slot) { slot.flags = static_cast<std::uint8_t>(slot.flags & ~kSeen); }, [] {});
  };
  // Reused from chunk to chunk: its states keep their minutes' capacity. Sized here,
  // not under a lock; a chunk that ends past a long run of sources adds to it.
  std::vector<SourceState> batch(kExportChunk);
  std::size_t filled = 0;
  std::size_t total = 0;
  try {
    for (auto& s : im.shards)
      Impl::walk_in_chunks(
          s,
          [&](Slot& slot) {
            if (slot.flags & kSeen) return;
            slot.flags |= kSeen;
            if (filled == batch.size()) batch.emplace_back();
            im.fill_state(slot, batch[filled++], lo, cfg.ipv6_prefix);
          },
          [&] {
            for (std::size_t i = 0; i < filled; ++i) sink(batch[i]);
            total += filled;
            filled = 0;
          });
  } catch (...) {
    clear_marks();
    throw;
  }
  clear_marks();
  return total;
}

bool Limiter::import(const SourceState& state) {
  Impl& im = *impl_;
  const Config& cfg = *im.config.load(std::memory_order_acquire);
  const SourceKey& key = state.key;
  if (key.is_v4() ? key.prefix != 32 : key.prefix != cfg.ipv6_prefix) return false;
  if (!key.is_v4() && key.address().masked(key.prefix) != key.address()) return false;
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < state.minutes.size(); ++i) {
    const auto& mc = state.minutes[i];
    if ((sum += mc.count) > 0xFFFFFFFFull) return false;
    if (mc.minute < 0 || mc.minute > 0xFFFFFFFFll) return false;
    if (i && mc.minute <= state.minutes[i - 1].minute) return false;  // oldest first, no repeats
  }
  const UnixSeconds now = im.clock.now();
  Key k = to_key(key);
  Impl::Shard& s = im.shard_of(hash_of(k));
  std::lock_guard lock(s.mu);
  if (state.empty()) {
    // A forgotten source: nothing to hold, so nothing to insert, and at max_sources no
    // tracked source replaced to make room for it; one that is tracked is forgotten.
    if (Slot* found = Impl::find(s, k)) {
      if (found->flags & kHeavy) Impl::unlist_suspension(s, *found);
      found->flags |= kDirty;  // nothing to export: lib/state sent it
      Impl::erase_at(s, static_cast<std::size_t>(found - s.slots.data()));
    }
    return true;
  }
  bool inserted;
  Slot& slot = im.find_or_insert(s, k, inserted, cfg.shard_max_sources);
  // Start from an empty heavy record, so one code path fills both forms.
  if (slot.flags & kHeavy) {
    slot.n = 0;  // pending queries are replaced too
    Heavy* old = Impl::record(s, slot);
    bool was_listed = old->listed;
    std::uint32_t capacity = old->capacity;
    *old = Heavy{};
    old->capacity = capacity;
    old->listed = was_listed;
  } else {
    slot.n = 0;
    Impl::make_heavy(s, slot);
  }
  for (const auto& mc : state.minutes)
    if (mc.count) Impl::add_queries(s, slot, static_cast<Minute>(mc.minute), mc.count);
  Heavy& h = *Impl::record(s, slot);
  h.episodes = std::min(state.episodes, kMaxEpisodes);
  h.last_episode = state.last_episode;
  h.suspended_until = state.suspended_until;
  h.flags = state.flags & (SourceState::kManualSuspension | SourceState::kExpiryReported);
  if (h.suspended_until != 0 && !(h.flags & SourceState::kExpiryReported))
    Impl::list_suspension(s, slot);
  else
    Impl::unlist_suspension(s, slot);  // when it replaces a listed source
  if (!h.listed) Impl::maybe_make_inline(s, slot, now);
  if (slot.flags & kHeavy) Impl::refresh(s, slot);
  // An empty state is a forgotten source: do not keep a slot for it.
  if (!(slot.flags & kHeavy) && slot.n == 0) {
    std::size_t index = static_cast<std::size_t>(&slot - s.slots.data());
    slot.flags |= kDirty;  // nothing to export: lib/state sent it
    Impl::erase_at(s, index);
    return true;
  }
  return true;
}

std::optional<SourceState> Limiter::inspect(const SourceKey& source) const {
  const Impl& im = *impl_;
  const Config& cfg = *im.config.load(std::memory_order_acquire);
  const Minute lo = Impl::window_start(minute_of(im.clock.now()), cfg);
  Key k = to_key(source);
  const Impl::Shard& s = im.shard_of(hash_of(k));
  std::lock_guard lock(s.mu);
  Slot* slot = Impl::find(const_cast<Impl::Shard&>(s), k);
  if (!slot) return std::nullopt;
  SourceState out;
  im.fill_state(*slot, out, lo, cfg.ipv6_prefix);
  return out;
}

std::size_t Limiter::drain_events(std::vector<LimiterEvent>& out) {
  Impl& im = *impl_;
  const UnixSeconds now = im.clock.now();
  const int prefix = ipv6_prefix();
  std::vector<LimiterEvent> batch;
  for (auto& s : im.shards) {
    std::lock_guard lock(s.mu);
    if (!s.suspended.empty()) Impl::collect_expired(s, now, prefix, batch);
  }
  im.queue_events(batch);
  std::lock_guard lock(im.events_mu);
  std::size_t n = im.events.size();
  out.insert(out.end(), im.events.begin(), im.events.end());
  im.events.clear();
  return n;
}

std::vector<ActiveSuspension> Limiter::active_suspensions() const {
  const Impl& im = *impl_;
  const UnixSeconds now = im.clock.now();
  const int prefix = ipv6_prefix();
  std::vector<ActiveSuspension> out;
  for (const auto& s : im.shards) {
    std::lock_guard lock(s.mu);
    for (const Key& k : s.suspended) {
      const Slot* slot = Impl::find(const_cast<Impl::Shard&>(s), k);
      if (!slot || !(slot->flags & kHeavy)) continue;
      const Heavy& h = *Impl::record(s, *slot);
      if (!h.listed || h.suspended_until <= now) continue;
      out.push_back(ActiveSuspension{to_source_key(*slot, prefix), h.last_episode, h.suspended_until, h.episodes,
                                     (h.flags & SourceState::kManualSuspension) != 0});
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.source < b.source; });
  return out;
}

std::size_t Limiter::sweep(std::size_t max_items) {
  Impl& im = *impl_;
  const Config& cfg = *im.config.load(std::memory_order_acquire);
  const UnixSeconds now = im.clock.now();
  std::lock_guard sweep_lock(im.sweep_mu);
  std::size_t forgotten = 0;
  std::size_t budget = max_items;
  std::vector<LimiterEvent> batch;
  std::size_t shrink_from = 0;  // the capacity of the table this shard's pass ended on, to shrink
  for (std::size_t visited = 0; budget > 0 && visited <= kShards; ++visited) {
    Impl::Shard& s = im.shards[im.sweep_shard];
    {
      std::lock_guard lock(s.mu);
      if (s.sweep_cursor == 0 && !s.suspended.empty()) Impl::collect_expired(s, now, cfg.ipv6_prefix, batch);
      const Minute lo = Impl::window_start(minute_of(now), cfg);
      while (budget > 0 && s.sweep_cursor < s.slots.size()) {
        --budget;
        std::size_t i = s.sweep_cursor;
        Slot& slot = s.slots[i];
        if (!(slot.flags & kOccupied)) {
          ++s.sweep_cursor;
          continue;
        }
        bool forget;
        if (slot.flags & kHeavy) {
          Heavy& h = Impl::open(s, slot);
          Impl::redate_heavy(s, slot, h, now);
          Impl::prune_heavy(h, lo);
          Impl::forget_episodes_if_quiet(s, slot, h, now, cfg);
          forget = Impl::forgettable(h, now, cfg);
          if (!forget) Impl::maybe_make_inline(s, slot, now);
          if (!forget && (slot.flags & kHeavy)) {
            Impl::shrink(s, slot);
            Impl::refresh(s, slot);
          }
        } else {
          if (Impl::redate_inline(slot, minute_of(now))) Impl::mark_dirty(s, slot);
          Impl::prune_inline(slot, lo);
          forget = slot.n == 0;
        }
        if (forget) {
          Impl::erase_at(s, i);  // a later member may now sit at i: look at i again
          ++forgotten;
        } else {
          ++s.sweep_cursor;
        }
      }
      if (s.sweep_cursor >= s.slots.size()) {
        // End of this shard's pass: give memory back after a wave of sources left
        // (below, without the lock).
        if (s.slots.size() > kMinCapacity && s.size * 4 < s.slots.size()) shrink_from = s.slots.size();
        s.sweep_cursor = 0;
        im.sweep_shard = (im.sweep_shard + 1) % kShards;
      }
    }
    if (shrink_from != 0) {
      Impl::shrink_table(s, shrink_from);
      shrink_from = 0;
    }
  }
  im.queue_events(batch);
  return forgotten;
}

std::size_t Limiter::tracked_sources() const {
  std::size_t n = 0;
  for (const auto& s : impl_->shards) n += s.size_hint.load(std::memory_order_relaxed);
  return n;
}

LimiterStats Limiter::stats() const {
  const Impl& im = *impl_;
  LimiterStats st;
  st.total_bytes = sizeof(Impl);
  for (const auto& s : im.shards) {
    std::lock_guard lock(s.mu);
    st.tracked_sources += s.size;
    st.heavy_sources += s.heavy;
    st.active_suspensions += s.suspended.size();
    st.table_bytes += s.slots.capacity() * sizeof(Slot);
    st.heavy_bytes += s.heavy_bytes;
    st.evicted_sources += s.evicted;
    st.growths_off_loop += s.growths_off_loop;
    st.growths_by_inserter += s.growths_by_inserter;
    st.total_bytes += (s.dirty.capacity() + s.suspended.capacity()) * sizeof(Key);
  }
  st.total_bytes += st.table_bytes + im.arena.committed_bytes();  // records in use, free blocks, slack
  st.events_dropped = im.events_dropped.load(std::memory_order_relaxed);
  st.max_sources = im.config.load(std::memory_order_acquire)->max_sources;
  return st;
}

}  // namespace whoisd
