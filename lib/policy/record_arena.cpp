#include "policy/record_arena.h"

#include <sys/mman.h>

#include <bit>
#include <cstring>
#include <new>

namespace whoisd {
namespace {

constexpr std::size_t kHugePage = std::size_t{2} << 20;

std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

}  // namespace

RecordArena::RecordArena(std::size_t reserve_bytes) {
  // Handles count 64-byte units in 32 bits: no more than 256 GB can be named.
  reserve_bytes = std::min(round_up(reserve_bytes, kHugePage), std::size_t{0xFFFFFFFFu} * kUnit / kHugePage * kHugePage);
  // Address space only, but a limit on it (RLIMIT_AS) may refuse that much: then ask
  // for less, down to 64 MB, rather than not start.
  constexpr std::size_t kFallback = std::size_t{64} << 20;
  void* p = MAP_FAILED;
  for (;;) {
    mapping_bytes_ = reserve_bytes + kHugePage;
    p = ::mmap(nullptr, mapping_bytes_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p != MAP_FAILED || reserve_bytes <= kFallback) break;
    reserve_bytes = std::max(kFallback, reserve_bytes / 2 / kHugePage * kHugePage);
  }
  if (p == MAP_FAILED) throw std::bad_alloc();
  mapping_ = static_cast<char*>(p);
  base_ = reinterpret_cast<char*>(round_up(reinterpret_cast<std::uintptr_t>(mapping_), kHugePage));
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
  if (top_ + size > committed_) {
    std::size_t grow = round_up(top_ + size, kHugePage) - committed_;
    if (::mprotect(base_ + committed_, grow, PROT_READ | PROT_WRITE) != 0) throw std::bad_alloc();
    // Advice only: without huge pages the arena works the same, just slower.
    ::madvise(base_ + committed_, grow, MADV_HUGEPAGE);
    committed_ += grow;
  }
  auto h = static_cast<Handle>(top_ / kUnit);
  top_ += size;
  used_ += size;
  return h;
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
