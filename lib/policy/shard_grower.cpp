#include "policy/shard_grower.h"

#include "common/thread_setup.h"

#include <bit>
#include <system_error>
#include <utility>

namespace whoisd {

ShardGrower::ShardGrower(std::function<void(unsigned)> grow) : grow_(std::move(grow)) {
  try {
    thread_ = std::thread([this] { run(); });
  } catch (const std::system_error&) {
    // No thread (a task limit, say): request() says so, and tables grow where inserted.
  }
}

ShardGrower::~ShardGrower() {
  if (!thread_.joinable()) return;
  pending_.fetch_or(kStop, std::memory_order_release);
  pending_.notify_one();
  thread_.join();
}

bool ShardGrower::request(unsigned shard) noexcept {
  if (!thread_.joinable()) return false;
  pending_.fetch_or(std::uint32_t{1} << shard, std::memory_order_release);
  pending_.notify_one();
  return true;
}

void ShardGrower::run() {
  set_up_thread("whoisd-grow");
  for (;;) {
    pending_.wait(0, std::memory_order_acquire);
    std::uint32_t bits = pending_.exchange(0, std::memory_order_acq_rel);
    if (bits & kStop) return;
    while (bits != 0) {
      const auto shard = static_cast<unsigned>(std::countr_zero(bits));
      bits &= bits - 1;
      grow_(shard);
    }
  }
}

}  // namespace whoisd
