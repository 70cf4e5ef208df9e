#include "server/loop_liveness.h"

#include <stdexcept>

namespace whoisd {

LoopLiveness::LoopLiveness(std::vector<std::string> names, const std::vector<std::uint64_t>& heartbeats,
                           std::chrono::milliseconds stall_after, Clock::time_point now)
    : stall_after_(stall_after) {
  if (names.size() != heartbeats.size())
    throw std::invalid_argument("LoopLiveness: " + std::to_string(names.size()) + " loop names for " +
                                std::to_string(heartbeats.size()) + " heartbeat counters");
  for (std::size_t i = 0; i < names.size(); ++i)
    loops_.push_back(Loop{std::move(names[i]), heartbeats[i], heartbeats[i], now});
}

LoopLiveness::Verdict LoopLiveness::check(const std::vector<std::uint64_t>& heartbeats, Clock::time_point now) {
  if (heartbeats.size() != loops_.size())
    throw std::invalid_argument("LoopLiveness: " + std::to_string(heartbeats.size()) + " heartbeat counters for " +
                                std::to_string(loops_.size()) + " loops");
  Verdict verdict;
  verdict.alive = true;
  for (std::size_t i = 0; i < loops_.size(); ++i) {
    Loop& loop = loops_[i];
    if (heartbeats[i] != loop.last_seen) {
      loop.last_seen = heartbeats[i];
      loop.moved_at = now;
      if (loop.stalled) {
        loop.stalled = false;
        verdict.recovered.push_back(loop.name);
      }
    }
    if (loop.last_seen == loop.at_last_alive) verdict.alive = false;
    const auto silent = std::chrono::duration_cast<std::chrono::milliseconds>(now - loop.moved_at);
    if (!loop.stalled && silent >= stall_after_) {
      loop.stalled = true;
      verdict.newly_stalled.push_back(Stall{loop.name, silent});
    }
  }
  if (verdict.alive)
    for (Loop& loop : loops_) loop.at_last_alive = loop.last_seen;
  return verdict;
}

}  // namespace whoisd
