// An allocator for the limiter's hash tables, in three sizes:
// - 2 MB or more: mapped on its own, 2 MB-aligned, and advised for transparent huge pages
//   (THP in `madvise` mode, as Debian ships it, grants them only to advised memory), so
//   that a lookup at random in tens of megabytes does not also pay a page walk per 4 KB
//   page (under a hypervisor, a walk of the host's tables too). The last, partial 2 MB of
//   a table stays in 4 KB pages, so a table costs no more memory than its size.
// - 64 KB to 2 MB: mapped on its own in 4 KB pages. Why not operator new: the tables of a
//   growing limiter double within a second or so of each other, on the event loops, and
//   glibc serves blocks of this size from the calling thread's arena, where the freed
//   generations stayed as resident memory that only that arena could reuse (measured in
//   bench scenario 3: ~39 MB held by the loops' arenas while the live tables were ~25 MB).
//   A mapping of its own goes back to the kernel when its table is replaced.
// - under 64 KB: operator new; a mapping each would cost more than it saves.
// Only advice: without huge pages it works the same, slower.
#pragma once

#include <cstddef>

namespace whoisd {

void* allocate_huge_aware(std::size_t bytes);             // throws std::bad_alloc
void deallocate_huge_aware(void* p, std::size_t bytes);  // the same `bytes`

// The sizes at which allocate_huge_aware changes method (exposed for its tests; the
// record arena maps its records in the same 2 MB huge pages).
inline constexpr std::size_t kOwnMappingMinBytes = std::size_t{64} << 10;
inline constexpr std::size_t kHugePageBytes = std::size_t{2} << 20;

// n rounded up to a multiple of `to` (a page size: mappings and their alignment).
inline constexpr std::size_t round_up_to(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

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
