#include "policy/record_arena.h"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <new>

#include "policy/huge_page_allocator.h"

namespace whoisd {

RecordArena::RecordArena(std::size_t reserve_bytes) {
  // Handles count 64-byte units in 32 bits: no more than 256 GB can be named.
  reserve_bytes = std::min(round_up_to(reserve_bytes, kHugePageBytes),
                           std::size_t{0xFFFFFFFFu} * kUnit / kHugePageBytes * kHugePageBytes);
  // Address space only, but a limit on it (RLIMIT_AS) may refuse that much: then ask
  // for less, down to 64 MB, rather than not start.
  constexpr std::size_t kFallback = std::size_t{64} << 20;
  void* p = MAP_FAILED;
  for (;;) {
    mapping_bytes_ = reserve_bytes + kHugePageBytes;
    p = ::mmap(nullptr, mapping_bytes_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p != MAP_FAILED || reserve_bytes <= kFallback) break;
    reserve_bytes = std::max(kFallback, reserve_bytes / 2 / kHugePageBytes * kHugePageBytes);
  }
  if (p == MAP_FAILED) throw std::bad_alloc();
  mapping_ = static_cast<char*>(p);
  base_ = reinterpret_cast<char*>(round_up_to(reinterpret_cast<std::uintptr_t>(mapping_), kHugePageBytes));
  reserved_ = reserve_bytes;
}

RecordArena::~RecordArena() { ::munmap(mapping_, mapping_bytes_); }

int RecordArena::size_class(std::size_t bytes) {
  return std::countr_zero(std::bit_ceil(std::max(bytes, kUnit)) / kUnit);
}

std::size_t RecordArena::block_size(std::size_t bytes) { return kUnit << size_class(bytes); }

RecordArena::Handle RecordArena::allocate(std::size_t bytes) {
  const int c = size_class(bytes);
  if (c >= kClasses) throw std::bad_alloc();
  const std::size_t size = kUnit << c;
  std::lock_guard lock(mu_);
  if (Handle h = free_[c]) {
    std::memcpy(&free_[c], at(h), sizeof(Handle));
    used_ += size;
    return h;
  }
  if (size > reserved_ - top_) throw std::bad_alloc();
  if (top_ + size > committed_ && !commit(top_ + size)) throw std::bad_alloc();
  auto h = static_cast<Handle>(top_ / kUnit);
  top_ += size;
  used_ += size;
  return h;
}

bool RecordArena::commit(std::size_t end) {
  std::size_t grow = round_up_to(end, kHugePageBytes) - committed_;
  if (::mprotect(base_ + committed_, grow, PROT_READ | PROT_WRITE) != 0) return false;
  // Advice only: without huge pages the arena works the same, just slower.
  ::madvise(base_ + committed_, grow, MADV_HUGEPAGE);
  committed_ += grow;
  return true;
}

void RecordArena::prefault_spare() {
  char* from = nullptr;
  std::size_t bytes = 0;
  {
    std::lock_guard lock(mu_);
    if (used_ == 0) return;
    const std::size_t grew = top_ > top_at_prefault_ ? top_ - top_at_prefault_ : 0;
    top_at_prefault_ = top_;
    const std::size_t spare = std::max({kHugePageBytes, used_ / 8, 2 * grew});
    const std::size_t end = std::min(round_up_to(top_ + spare, kHugePageBytes), reserved_);
    const std::size_t start = std::max(prefaulted_, top_ / kHugePageBytes * kHugePageBytes);
    if (end <= start) return;
    if (end > committed_ && !commit(end)) return;
    from = base_ + start;
    bytes = end - start;
    prefaulted_ = end;
  }
  // Outside the lock: faulting in a few huge pages takes milliseconds, and allocate()
  // on the loops must not wait for it. Blocks handed out meanwhile from this range are
  // fine: populating only faults in pages that are not there yet, never changes one.
  // A release() that gave everything back meanwhile makes this fail or fault in memory
  // the arena commits again anyway: both harmless (and errors are ignored: advice).
  ::madvise(from, bytes, MADV_POPULATE_WRITE);
}

void RecordArena::release(Handle handle, std::size_t bytes) {
  const int c = size_class(bytes);
  std::lock_guard lock(mu_);
  std::memcpy(at(handle), &free_[c], sizeof(Handle));
  free_[c] = handle;
  used_ -= kUnit << c;
  if (used_ == 0) {
    // Nothing in use: give every page back and start again from the bottom.
    ::madvise(base_, committed_, MADV_DONTNEED);
    ::mprotect(base_, committed_, PROT_NONE);
    committed_ = 0;
    top_ = kUnit;
    prefaulted_ = 0;
    top_at_prefault_ = 0;
    free_.fill(0);
  }
}

std::size_t RecordArena::used_bytes() const {
  std::lock_guard lock(mu_);
  return used_;
}

std::size_t RecordArena::committed_bytes() const {
  std::lock_guard lock(mu_);
  return committed_;
}

}  // namespace whoisd
