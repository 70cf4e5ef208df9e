// The limiter's record arena: blocks that do not overlap, reuse of freed blocks of the
// same size, memory committed as needed and given back when nothing is in use, and a
// clear failure when the reserved span is exhausted; memory faulted in ahead by
// prefault_spare(), also while another thread allocates.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstring>
#include <map>
#include <new>
#include <thread>
#include <vector>

#include "policy/record_arena.h"

using whoisd::RecordArena;

TEST_CASE("record arena: power-of-two blocks that do not overlap") {
  CHECK(RecordArena::block_size(1) == 64);
  CHECK(RecordArena::block_size(64) == 64);
  CHECK(RecordArena::block_size(65) == 128);
  CHECK(RecordArena::block_size(3000) == 4096);

  RecordArena arena(std::size_t{64} << 20);
  struct Block {
    std::size_t bytes;
    int value;
  };
  std::map<RecordArena::Handle, Block> blocks;
  std::size_t want_used = 0;
  for (std::size_t i = 0; i < 3000; ++i) {
    std::size_t bytes = 40 + (i * 37) % 5000;
    RecordArena::Handle h = arena.allocate(bytes);
    CHECK(h != 0);
    CHECK(blocks.count(h) == 0);
    std::memset(arena.at(h), static_cast<int>(i % 251), bytes);
    blocks[h] = Block{bytes, static_cast<int>(i % 251)};
    want_used += RecordArena::block_size(bytes);
  }
  CHECK(arena.used_bytes() == want_used);
  CHECK(arena.committed_bytes() >= want_used);
  CHECK(arena.committed_bytes() % (std::size_t{2} << 20) == 0);
  // Each block still holds what was written to it: no two overlap.
  std::size_t i = 0;
  for (const auto& [h, block] : blocks) {
    const auto* p = static_cast<const unsigned char*>(arena.at(h));
    bool intact = true;
    for (std::size_t b = 0; b < block.bytes; ++b) intact = intact && p[b] == block.value;
    CHECK(intact);
    ++i;
  }
  CHECK(i == 3000);
}

TEST_CASE("record arena: freed blocks are reused; all freed gives the memory back") {
  RecordArena arena(std::size_t{64} << 20);
  RecordArena::Handle a = arena.allocate(100);
  RecordArena::Handle b = arena.allocate(100);
  RecordArena::Handle c = arena.allocate(1000);
  CHECK(arena.used_bytes() == 128 + 128 + 1024);
  arena.release(a, 100);
  CHECK(arena.allocate(120) == a);  // the same class: the freed block
  CHECK(arena.allocate(60) != a);
  arena.release(b, 100);
  arena.release(c, 1000);
  arena.release(a, 120);
  CHECK(arena.used_bytes() == 64);  // the 60-byte block
  CHECK(arena.committed_bytes() > 0);
  arena.release(arena.allocate(60), 60);  // the free list gives it back first
  CHECK(arena.used_bytes() == 64);
}

TEST_CASE("record arena: nothing in use means nothing committed, and it starts again") {
  RecordArena arena(std::size_t{64} << 20);
  std::vector<RecordArena::Handle> handles;
  for (int i = 0; i < 100000; ++i) handles.push_back(arena.allocate(128));
  CHECK(arena.committed_bytes() >= std::size_t{100000} * 128);
  for (RecordArena::Handle h : handles) arena.release(h, 128);
  CHECK(arena.used_bytes() == 0);
  CHECK(arena.committed_bytes() == 0);
  RecordArena::Handle h = arena.allocate(128);
  std::memset(arena.at(h), 1, 128);  // usable again
  CHECK(arena.used_bytes() == 128);
}

TEST_CASE("record arena: an exhausted span fails with bad_alloc, and what is held stays usable") {
  RecordArena arena(std::size_t{4} << 20);
  RecordArena::Handle big = arena.allocate(std::size_t{2} << 20);
  CHECK_THROWS_AS(arena.allocate(std::size_t{4} << 20), std::bad_alloc);
  std::memset(arena.at(big), 7, std::size_t{2} << 20);
  arena.release(big, std::size_t{2} << 20);
  CHECK(arena.used_bytes() == 0);
}

TEST_CASE("record arena: prefault_spare commits memory ahead of the top, never while nothing is in use") {
  constexpr std::size_t kHuge = std::size_t{2} << 20;
  RecordArena arena(std::size_t{256} << 20);
  arena.prefault_spare();
  CHECK(arena.committed_bytes() == 0);  // nothing in use: the arena holds no memory

  std::vector<RecordArena::Handle> handles;
  for (int i = 0; i < 40000; ++i) {  // 10 MB of blocks: the top is past 10 MB
    handles.push_back(arena.allocate(256));
    std::memset(arena.at(handles.back()), i % 251, 256);
  }
  const std::size_t top = 64 + 40000 * 256;  // offset 0 is never handed out
  auto round_up = [&](std::size_t n) { return (n + kHuge - 1) / kHuge * kHuge; };
  CHECK(arena.committed_bytes() == round_up(top));
  arena.prefault_spare();
  // At least 2 MB, an eighth of what is in use, twice the growth since the last call
  // (the whole top here): the top plus twice that, rounded up to 2 MB.
  CHECK(arena.committed_bytes() == round_up(3 * top));
  arena.prefault_spare();  // no growth since: the spare is already there
  CHECK(arena.committed_bytes() == round_up(3 * top));
  // Blocks taken from the prefaulted memory are ordinary blocks; the old ones are intact.
  for (int i = 0; i < 40000; ++i) {
    handles.push_back(arena.allocate(256));
    std::memset(arena.at(handles.back()), 3, 256);
  }
  bool intact = true;
  for (int i = 0; i < 40000; ++i) {
    const auto* p = static_cast<const unsigned char*>(arena.at(handles[static_cast<std::size_t>(i)]));
    intact = intact && p[0] == i % 251 && p[255] == i % 251;
  }
  CHECK(intact);
  CHECK(arena.used_bytes() == 80000 * 256);
  for (RecordArena::Handle h : handles) arena.release(h, 256);
  CHECK(arena.committed_bytes() == 0);  // all freed: the prefaulted memory goes back too
  arena.prefault_spare();
  CHECK(arena.committed_bytes() == 0);
}

TEST_CASE("record arena: prefault_spare from another thread while blocks are taken, written and freed") {
  RecordArena arena(std::size_t{512} << 20);
  std::atomic<bool> done{false};
  std::thread prefaulter([&] {
    while (!done.load()) arena.prefault_spare();
  });
  bool intact = true;
  for (int round = 0; round < 20; ++round) {
    std::vector<RecordArena::Handle> handles;
    for (int i = 0; i < 20000; ++i) {
      handles.push_back(arena.allocate(64 << (i % 4)));
      std::memset(arena.at(handles.back()), (round + i) % 251, std::size_t{64} << (i % 4));
    }
    for (int i = 0; i < 20000; ++i) {
      const auto* p = static_cast<const unsigned char*>(arena.at(handles[static_cast<std::size_t>(i)]));
      intact = intact && p[0] == (round + i) % 251 && p[(std::size_t{64} << (i % 4)) - 1] == (round + i) % 251;
    }
    for (int i = 0; i < 20000; ++i) arena.release(handles[static_cast<std::size_t>(i)], std::size_t{64} << (i % 4));
    CHECK(arena.used_bytes() == 0);  // each round ends with everything given back, racing the prefaults
  }
  done = true;
  prefaulter.join();
  CHECK(intact);
}
