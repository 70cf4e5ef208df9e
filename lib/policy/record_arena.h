// Where the limiter keeps its heavy records: one span of address space reserved up
// front and handed out in power-of-two blocks of 64 bytes and up, each named by a
// 32-bit handle (its offset in 64-byte units).
//
// Why not malloc: a handle is half a pointer, which leaves room in the limiter's
// 32-byte hash slot for what a decision needs (see limiter.cpp), and the span is
// advised for transparent huge pages, so that reaching a record at random among a
// million does not also pay a page walk per 4 KB page.
//
// Memory is committed (made readable and writable) in 2 MB steps as the blocks in use
// reach further; freed blocks go to a free list of their size and are reused. When no
// block is in use any more (every heavy source forgotten), the whole span is given
// back to the kernel.
//
// Why prefault_spare(): the first write to a fresh 2 MB huge page is a page fault that
// clears it, ~4 ms of system time on the development VM (bench/README.md, limiter). In
// allocate() that stall lands on an event loop, in the middle of a query; called from
// a background thread (the limiter's export, on lib/state's thread), it faults in the
// memory the next allocations will take before they need it.
//
// Thread safety: allocate(), release() and prefault_spare() lock (the last one not
// while it faults memory in); at() does not (the span never moves), so a block's
// contents are guarded by whatever guards its owner.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>

namespace whoisd {

class RecordArena {
 public:
  using Handle = std::uint32_t;  // never 0
  static constexpr std::size_t kUnit = 64;

  // Reserves `reserve_bytes` of address space (no memory yet); throws std::bad_alloc.
  explicit RecordArena(std::size_t reserve_bytes = std::size_t{16} << 30);
  ~RecordArena();
  RecordArena(const RecordArena&) = delete;
  RecordArena& operator=(const RecordArena&) = delete;

  // The size of the block that holding `bytes` takes: a power of two, at least kUnit.
  static std::size_t block_size(std::size_t bytes);

  // A block of block_size(bytes), contents unspecified; throws std::bad_alloc when the
  // reserved span is exhausted or the kernel refuses memory.
  Handle allocate(std::size_t bytes);
  // Gives back a block from allocate() with the same `bytes`.
  void release(Handle handle, std::size_t bytes);

  // Commits and faults in the memory the next allocations from the top will take:
  // at least 2 MB, an eighth of the blocks in use, and twice what the top grew since
  // the last call (so a burst of growth between two calls is covered next time).
  // Nothing while no block is in use (the arena holds no memory then). Advice only:
  // memory the kernel will not fault in now is faulted by allocate()'s first write.
  void prefault_spare();

  void* at(Handle handle) const { return base_ + std::size_t{handle} * kUnit; }

  std::size_t used_bytes() const;       // blocks in use
  std::size_t committed_bytes() const;  // memory the arena may hold (in use, free lists, slack)

 private:
  static constexpr int kClasses = 40;
  static int size_class(std::size_t bytes);
  // Makes [0, end rounded up to 2 MB) readable and writable; false if the kernel
  // refuses. Caller holds mu_ and end > committed_.
  bool commit(std::size_t end);

  mutable std::mutex mu_;
  char* mapping_ = nullptr;  // what mmap returned (base_ aligned up inside it)
  std::size_t mapping_bytes_ = 0;
  char* base_ = nullptr;     // 2 MB-aligned
  std::size_t reserved_ = 0;
  std::size_t committed_ = 0;
  std::size_t top_ = kUnit;  // bump pointer (offset); offset 0 is never handed out, so no handle is 0
  std::size_t used_ = 0;
  std::size_t prefaulted_ = 0;  // offset up to which prefault_spare() has faulted memory in
  std::size_t top_at_prefault_ = 0;  // top_ at the last prefault_spare()
  std::array<Handle, kClasses> free_{};  // per class, the first free block (its first 4 bytes: the next)
};

}  // namespace whoisd
