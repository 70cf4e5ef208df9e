// An allocator for the limiter's hash tables: a table of 2 MB or more is mapped on its
// own, 2 MB-aligned, and advised for transparent huge pages (THP in `madvise` mode, as
// Debian ships it, grants them only to advised memory), so that a lookup at random in
// tens of megabytes does not also pay a page walk per 4 KB page (under a hypervisor,
// a walk of the host's tables too). The last, partial 2 MB of a table stays in 4 KB
// pages, so a table costs no more memory than its size. Smaller tables come from
// operator new. Only advice: without huge pages it works the same, slower.
#pragma once

#include <cstddef>

namespace whoisd {

void* allocate_huge_aware(std::size_t bytes);             // throws std::bad_alloc
void deallocate_huge_aware(void* p, std::size_t bytes);  // the same `bytes`

template <class T>
struct HugePageAllocator {
  using value_type = T;
  HugePageAllocator() = default;
  template <class U>
  HugePageAllocator(const HugePageAllocator<U>&) {}
  T* allocate(std::size_t n) { return static_cast<T*>(allocate_huge_aware(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) { deallocate_huge_aware(p, n * sizeof(T)); }
  template <class U>
  friend bool operator==(const HugePageAllocator&, const HugePageAllocator<U>&) {
    return true;
  }
};

}  // namespace whoisd
