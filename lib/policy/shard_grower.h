// A thread that grows the limiter's shard tables off the event loops.
//
// Why: a shard's table grows by 1.5x when a new source brings it to 80 % load. Done
// by the thread that inserts that source (an event loop), a growth at 1-2 million
// sources stalled the loop for 7-20 ms, nearly all of it the new table's allocation
// and page faults (bench/README.md, `bench_limiter_growth`), while every client of
// that loop waited. So the loop only asks (request(), a bit in an atomic word and a
// futex wake: it never waits), and this thread calls `grow(shard)`, which allocates
// and faults in the new table before it takes the shard's lock and rehashes.
//
// The thread is started with the limiter, on the thread that makes it (the daemon's
// main thread), not on the first request: a thread inherits its creator's scheduling
// policy, and the first request may come from a writer at SCHED_IDLE (an operator's
// suspension, applied by the state writer), whose policy an unprivileged thread
// cannot leave. It must run at normal priority, because it holds a shard's lock
// while it rehashes and an event loop may wait for it (a SCHED_IDLE thread could be
// preempted holding it). When it cannot be started, request() says so and the caller
// grows the table itself.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>

namespace whoisd {

class ShardGrower {
 public:
  // `grow` is called on the grower's thread with the index of a shard whose growth was
  // requested (0..31), once for one or more requests made since its last call.
  explicit ShardGrower(std::function<void(unsigned)> grow);  // starts the thread
  ~ShardGrower();  // stops and joins the thread: `grow` is not called after it returns
  ShardGrower(const ShardGrower&) = delete;
  ShardGrower& operator=(const ShardGrower&) = delete;

  // Asks for `shard` to be grown. Never blocks. false when there is no thread to do it
  // (the system refused one).
  bool request(unsigned shard) noexcept;

 private:
  void run();

  static constexpr std::uint32_t kStop = std::uint32_t{1} << 31;  // above any shard's bit
  std::function<void(unsigned)> grow_;
  std::atomic<std::uint32_t> pending_{0};  // one bit a shard, and kStop
  std::thread thread_;  // not joinable: the system refused a thread
};

}  // namespace whoisd
