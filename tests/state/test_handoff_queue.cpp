// The query log's lock-free hand-off: every item pushed comes out exactly once, in
// the order its producer pushed it, across block boundaries, with producers and the
// consumer running at once; after close() nothing more is accepted and a drain gets
// everything that was.
#include <catch2/catch.hpp>
#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "state/handoff_queue.h"

using whoisd::HandoffQueue;

namespace {

struct Item {
  int producer = -1;
  std::uint64_t seq = 0;
  std::string text;  // a member that owns memory, as a query-log entry's text does
};

Item item(int producer, std::uint64_t seq) {
  return {producer, seq, "item " + std::to_string(seq) + " of producer " + std::to_string(producer) +
                             " with a text too long for the small-string buffer"};
}

// Checks that every producer's items arrived complete and in order; returns how many.
std::size_t check_in_order(const std::vector<Item>& out, int producers, std::uint64_t per_producer) {
  std::vector<std::uint64_t> next(static_cast<std::size_t>(producers), 0);
  for (const Item& it : out) {
    REQUIRE(it.producer >= 0);
    REQUIRE(it.producer < producers);
    REQUIRE(it.seq == next[static_cast<std::size_t>(it.producer)]);
    REQUIRE(it.text == item(it.producer, it.seq).text);
    ++next[static_cast<std::size_t>(it.producer)];
  }
  for (std::uint64_t n : next) REQUIRE(n <= per_producer);
  return out.size();
}

}  // namespace

TEST_CASE("one producer: items come out in order, across many blocks, a batch at a time", "[state][handoff]") {
  HandoffQueue<Item, 4> q;  // blocks of 4: 1,000 items cross 250 block boundaries
  std::vector<Item> out;
  CHECK(q.drain(out, 100) == 0);
  for (std::uint64_t i = 0; i < 1000; ++i) {
    Item it = item(0, i);
    REQUIRE(q.push(std::move(it)));
  }
  CHECK(q.drain(out, 7) == 7);  // at most what was asked for
  CHECK(out.size() == 7);
  CHECK(q.drain(out, 10'000) == 993);
  CHECK(check_in_order(out, 1, 1000) == 1000);
  CHECK(q.drain(out, 10'000) == 0);
  // The emptied blocks are reused: pushing and draining again gives the same result.
  out.clear();
  for (std::uint64_t i = 0; i < 10; ++i) REQUIRE(q.push(item(0, i)));
  CHECK(q.drain(out, 10'000) == 10);
  CHECK(check_in_order(out, 1, 10) == 10);
}

TEST_CASE("a burst from 4 producers while the consumer drains: each item once, in its producer's order",
          "[state][handoff]") {
  constexpr int kProducers = 4;
  constexpr std::uint64_t kEach = 50'000;
  HandoffQueue<Item, 64> q;
  std::atomic<int> running{kProducers};
  std::atomic<std::uint64_t> refused{0};  // Catch2's assertions are for the main thread only
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p)
    producers.emplace_back([&, p] {
      for (std::uint64_t i = 0; i < kEach; ++i)
        if (!q.push(item(p, i))) refused.fetch_add(1);
      running.fetch_sub(1);
    });
  std::vector<Item> out;
  out.reserve(kProducers * kEach);
  while (running.load() > 0) q.drain(out, 1000);
  for (auto& t : producers) t.join();
  q.drain(out, SIZE_MAX);
  CHECK(refused.load() == 0);
  CHECK(check_in_order(out, kProducers, kEach) == kProducers * kEach);
}

TEST_CASE("close: later pushes fail, and a drain after it gets every accepted item", "[state][handoff]") {
  constexpr int kProducers = 3;
  HandoffQueue<Item, 16> q;
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p)
    producers.emplace_back([&, p] {
      while (!go.load()) std::this_thread::yield();
      for (std::uint64_t i = 0;; ++i) {
        if (!q.push(item(p, i))) break;  // closed: nothing after this one is accepted either
        accepted.fetch_add(1);
      }
    });
  go.store(true);
  std::vector<Item> out;
  while (accepted.load() < 20'000) q.drain(out, 500);  // the consumer runs meanwhile
  q.close();
  CHECK(q.closed());
  q.drain(out, SIZE_MAX);
  for (auto& t : producers) t.join();
  // Every push that returned true is here, and nothing else.
  CHECK(out.size() == accepted.load());
  check_in_order(out, kProducers, UINT64_MAX);
  Item late = item(0, 0);
  CHECK_FALSE(q.push(std::move(late)));
  CHECK(late.text == item(0, 0).text);  // a refused item is left as it was
  CHECK(q.drain(out, SIZE_MAX) == 0);
}

TEST_CASE("a thread that feeds two queues gets a lane in each", "[state][handoff]") {
  HandoffQueue<Item, 8> a;
  HandoffQueue<Item, 8> b;
  for (std::uint64_t i = 0; i < 20; ++i) {
    REQUIRE(a.push(item(0, i)));
    REQUIRE(b.push(item(1, i)));
  }
  std::vector<Item> out_a, out_b;
  CHECK(a.drain(out_a, SIZE_MAX) == 20);
  CHECK(b.drain(out_b, SIZE_MAX) == 20);
  for (const Item& it : out_a) CHECK(it.producer == 0);
  for (const Item& it : out_b) CHECK(it.producer == 1);
  CHECK(check_in_order(out_a, 1, 20) == 20);
}
