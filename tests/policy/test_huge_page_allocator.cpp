// The limiter tables' allocator: each size class gives writable memory of the size asked,
// aligned as its method promises, and the two classes mapped on their own give their
// pages back to the kernel when freed (the reason the middle class exists: a replaced
// table must not stay resident in an event loop's malloc arena).
#include <catch2/catch.hpp>

#include <sys/mman.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

#include "policy/huge_page_allocator.h"

using whoisd::allocate_huge_aware;
using whoisd::deallocate_huge_aware;
using whoisd::HugePageAllocator;
using whoisd::kHugePageBytes;
using whoisd::kOwnMappingMinBytes;

namespace {

constexpr std::size_t kPage = 4096;

// mincore() fails with ENOMEM when any page of the range is not mapped.
bool is_mapped(void* p, std::size_t bytes) {
  auto start = reinterpret_cast<std::uintptr_t>(p) / kPage * kPage;
  std::size_t length = reinterpret_cast<std::uintptr_t>(p) + bytes - start;
  std::vector<unsigned char> residency((length + kPage - 1) / kPage);
  if (::mincore(reinterpret_cast<void*>(start), length, residency.data()) == 0) return true;
  REQUIRE(errno == ENOMEM);
  return false;
}

void fill_and_check(void* p, std::size_t bytes, unsigned char value) {
  auto* b = static_cast<unsigned char*>(p);
  std::memset(b, value, bytes);
  CHECK(b[0] == value);
  CHECK(b[bytes / 2] == value);
  CHECK(b[bytes - 1] == value);
}

// A table mapped on its own: aligned to `alignment`, writable to its last byte, and
// gone from the address space once freed.
void check_own_mapping(std::size_t bytes, std::size_t alignment) {
  INFO(bytes << " bytes");
  void* p = allocate_huge_aware(bytes);
  REQUIRE(p != nullptr);
  CHECK(reinterpret_cast<std::uintptr_t>(p) % alignment == 0);
  fill_and_check(p, bytes, 0xA5);
  CHECK(is_mapped(p, bytes));
  deallocate_huge_aware(p, bytes);
  CHECK_FALSE(is_mapped(p, bytes));
}

}  // namespace

TEST_CASE("huge-page allocator: small tables come from operator new") {
  for (std::size_t bytes : {std::size_t{16}, std::size_t{4096}, kOwnMappingMinBytes - 16}) {
    void* p = allocate_huge_aware(bytes);
    REQUIRE(p != nullptr);
    fill_and_check(p, bytes, 0x5A);
    deallocate_huge_aware(p, bytes);
  }
}

TEST_CASE("huge-page allocator: middle-sized tables are mapped on their own and unmapped when freed") {
  for (std::size_t bytes : {kOwnMappingMinBytes, kOwnMappingMinBytes + 40, std::size_t{1} << 20, kHugePageBytes - 8})
    check_own_mapping(bytes, kPage);
}

TEST_CASE("huge-page allocator: tables of 2 MB or more are 2 MB-aligned and unmapped when freed") {
  for (std::size_t bytes : {kHugePageBytes, kHugePageBytes + 100, std::size_t{5} << 20})
    check_own_mapping(bytes, kHugePageBytes);
}

TEST_CASE("huge-page allocator: a vector growing through every size class keeps its contents") {
  std::vector<std::uint64_t, HugePageAllocator<std::uint64_t>> table;
  const std::size_t n = (std::size_t{3} << 20) / sizeof(std::uint64_t);
  for (std::size_t i = 0; i < n; ++i) table.push_back(i * 2654435761u);
  bool intact = true;
  for (std::size_t i = 0; i < n; ++i) intact = intact && table[i] == i * 2654435761u;
  CHECK(intact);
}
