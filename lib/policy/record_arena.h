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
// Thread safety: allocate() and release() lock; at() does not (the span never moves),
// so a block's contents are guarded by whatever guards its owner.
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

  void* at(Handle handle) const { return base_ + std::size_t{handle} * kUnit; }

  std::size_t used_bytes() const;       // blocks in use
  std::size_t committed_bytes() const;  // memory the arena may hold (in use, free lists, slack)

 private:
  static constexpr int kClasses = 40;
  static int size_class(std::size_t bytes);

  mutable std::mutex mu_;
  char* mapping_ = nullptr;  // what mmap returned (base_ aligned up inside it)
  std::size_t mapping_bytes_ = 0;
  char* base_ = nullptr;     // 2 MB-aligned
  std::size_t reserved_ = 0;
  std::size_t committed_ = 0;
  std::size_t top_ = kUnit;  // bump pointer (offset); offset 0 is never handed out, so no handle is 0
  std::size_t used_ = 0;
  std::array<Handle, kClasses> free_{};  // per class, the first free block (its first 4 bytes: the next)
};

}  // namespace whoisd
