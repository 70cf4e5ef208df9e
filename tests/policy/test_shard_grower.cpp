// The grower's thread: a request is served on a thread other than the caller's, with
// the shard it names; requests made while it grows get a call of their own; nothing
// is called once it is destroyed.
#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "policy/shard_grower.h"

using namespace whoisd;
using namespace std::chrono_literals;

namespace {

struct Calls {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<unsigned> shards;
  std::vector<std::thread::id> threads;

  void record(unsigned shard) {
    std::lock_guard lock(mu);
    shards.push_back(shard);
    threads.push_back(std::this_thread::get_id());
    cv.notify_all();
  }
  bool wait_for(std::size_t n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 10s, [&] { return shards.size() >= n; });
  }
};

}  // namespace

TEST_CASE("a request is served on the grower's thread with its shard") {
  Calls calls;
  ShardGrower grower([&](unsigned shard) { calls.record(shard); });
  REQUIRE(grower.request(7));
  REQUIRE(calls.wait_for(1));
  std::lock_guard lock(calls.mu);
  CHECK(calls.shards == std::vector<unsigned>{7});
  CHECK(calls.threads[0] != std::this_thread::get_id());
}

TEST_CASE("requests made while a growth runs each get a call; several shards, one each") {
  Calls calls;
  std::mutex gate;
  std::unique_lock held(gate);
  ShardGrower grower([&](unsigned shard) {
    calls.record(shard);
    std::lock_guard wait_here(gate);  // the first call waits until the test lets it go
  });
  REQUIRE(grower.request(0));
  REQUIRE(calls.wait_for(1));  // growing shard 0, held
  REQUIRE(grower.request(0));
  REQUIRE(grower.request(3));
  REQUIRE(grower.request(15));
  REQUIRE(grower.request(3));  // the same shard twice before it is served: one call
  held.unlock();
  REQUIRE(calls.wait_for(4));
  std::this_thread::sleep_for(50ms);  // no fifth call comes
  std::lock_guard lock(calls.mu);
  CHECK(calls.shards == std::vector<unsigned>{0, 0, 3, 15});
}

TEST_CASE("nothing is called once the grower is destroyed") {
  Calls calls;
  {
    ShardGrower unused([&](unsigned shard) { calls.record(shard); });  // stops without a request
  }
  {
    ShardGrower grower([&](unsigned shard) { calls.record(shard); });
    REQUIRE(grower.request(1));
    REQUIRE(calls.wait_for(1));
  }
  std::this_thread::sleep_for(20ms);
  std::lock_guard lock(calls.mu);
  CHECK(calls.shards.size() == 1);
}
