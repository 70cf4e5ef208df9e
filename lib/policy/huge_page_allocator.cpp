#include "policy/huge_page_allocator.h"

#include <sys/mman.h>

#include <cstdint>
#include <new>

namespace whoisd {
namespace {

constexpr std::size_t kPage = 4096;

void* map_anonymous(std::size_t bytes) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  return p;
}

}  // namespace

void* allocate_huge_aware(std::size_t bytes) {
  if (bytes < kOwnMappingMinBytes) return ::operator new(bytes);
  const std::size_t size = round_up_to(bytes, kPage);
  if (bytes < kHugePageBytes) return map_anonymous(size);
  // Map a huge page more than needed, then unmap what lies before a 2 MB boundary and after the table.
  void* p = map_anonymous(size + kHugePageBytes);
  const auto raw = reinterpret_cast<std::uintptr_t>(p);
  const std::uintptr_t start = round_up_to(raw, kHugePageBytes);
  const std::uintptr_t end = start + size;
  const std::uintptr_t raw_end = raw + size + kHugePageBytes;
  if (start > raw) ::munmap(p, start - raw);
  if (raw_end > end) ::munmap(reinterpret_cast<void*>(end), raw_end - end);
  ::madvise(reinterpret_cast<void*>(start), size, MADV_HUGEPAGE);
  return reinterpret_cast<void*>(start);
}

void deallocate_huge_aware(void* p, std::size_t bytes) {
  if (bytes < kOwnMappingMinBytes) {
    ::operator delete(p);
    return;
  }
  ::munmap(p, round_up_to(bytes, kPage));
}

}  // namespace whoisd
