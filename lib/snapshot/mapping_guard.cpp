#include "snapshot/mapping_guard.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <mutex>

namespace whoisd::mapping_guard {
namespace {

// A snapshot open, one being opened by a reload, and room for lookups still finishing on
// older ones; more would only mean that a file is not guarded (never an error).
constexpr int kSlots = 16;

struct Slot {
  std::atomic<bool> used{false};
  std::atomic<unsigned long> dev_major{0}, dev_minor{0};
  std::atomic<unsigned long> ino{0};
  std::atomic<bool> damaged{false};
};

// Static storage: the handler reads them with no lock, and a slot outlives every watch.
Slot g_slots[kSlots];
std::mutex g_claim;  // watch() and unwatch() only, never the handler
std::once_flag g_installed;
std::uintptr_t g_page_size = 4096;
// SIGBUS's action before install(): the default, or the daemon's fatal signal handler
// (common/fatal_signal.h), which writes the queued log lines before the process dies.
struct sigaction g_previous {};

// What the handler needs of a /proc/self/maps line: "START-END PERMS OFFSET MAJ:MIN INODE PATH"
// (hexadecimal but the inode). Without the C library, which is not async-signal-safe.
struct MapsLine {
  std::uintptr_t start = 0, end = 0;
  unsigned long dev_major = 0, dev_minor = 0, ino = 0;
};

int digit_value(char c, int base) {
  if (c >= '0' && c <= '9') return c - '0';
  if (base == 16 && c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Reads a number at p (up to end), moves p past it; false when there is none.
bool read_number(const char*& p, const char* end, int base, unsigned long& out) {
  out = 0;
  const char* first = p;
  for (int d; p < end && (d = digit_value(*p, base)) >= 0; ++p) out = out * static_cast<unsigned long>(base) + static_cast<unsigned long>(d);
  return p != first;
}

bool expect(const char*& p, const char* end, char c) {
  if (p >= end || *p != c) return false;
  ++p;
  return true;
}

void skip_field(const char*& p, const char* end) {
  while (p < end && *p != ' ') ++p;
  while (p < end && *p == ' ') ++p;
}

bool parse_maps_line(const char* p, const char* end, MapsLine& line) {
  unsigned long start = 0, stop = 0;
  if (!read_number(p, end, 16, start) || !expect(p, end, '-') || !read_number(p, end, 16, stop) ||
      !expect(p, end, ' '))
    return false;
  skip_field(p, end);  // permissions
  skip_field(p, end);  // offset
  if (!read_number(p, end, 16, line.dev_major) || !expect(p, end, ':') || !read_number(p, end, 16, line.dev_minor) ||
      !expect(p, end, ' ') || !read_number(p, end, 10, line.ino))
    return false;
  line.start = start;
  line.end = stop;
  return true;
}

// The mapping that holds addr, from /proc/self/maps (open, read and close are
// async-signal-safe); false when none does or the file cannot be read.
bool mapping_of(std::uintptr_t addr, MapsLine& found) {
  int fd;
  do fd = ::open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) return false;
  char buf[4096];
  std::size_t have = 0;
  bool hit = false;
  for (;;) {
    ssize_t n = ::read(fd, buf + have, sizeof buf - have);
    if (n < 0 && errno == EINTR) continue;
    const bool at_end = n <= 0;
    if (!at_end) have += static_cast<std::size_t>(n);
    std::size_t line_start = 0;
    for (std::size_t i = 0; i < have && !hit; ++i) {
      if (buf[i] != '\n' && !(at_end && i + 1 == have)) continue;
      MapsLine line;
      if (parse_maps_line(buf + line_start, buf + i + 1, line) && addr >= line.start && addr < line.end) {
        found = line;
        hit = true;
      }
      line_start = i + 1;
    }
    if (hit || at_end) break;
    // Keep the unfinished line; one longer than the buffer (a very long path) cannot hold
    // the address's mapping start anyway once its start was seen, so it is dropped.
    std::memmove(buf, buf + line_start, have - line_start);
    have -= line_start;
    if (have == sizeof buf) have = 0;
  }
  ::close(fd);
  return hit;
}

void on_sigbus(int, siginfo_t* info, void*) {
  const int saved_errno = errno;
  bool handled = false, mapped = false;
  MapsLine m;
  if (info->si_code == BUS_ADRERR && mapping_of(reinterpret_cast<std::uintptr_t>(info->si_addr), m)) {
    for (Slot& s : g_slots) {
      if (!s.used.load(std::memory_order_acquire) || s.ino.load(std::memory_order_relaxed) != m.ino ||
          s.dev_major.load(std::memory_order_relaxed) != m.dev_major ||
          s.dev_minor.load(std::memory_order_relaxed) != m.dev_minor)
        continue;
      // A page of zeros where the file's page was: the access is repeated on return and
      // reads it; SQLite then finds no valid page there and the lookup fails. (Every slot
      // of that file is marked: a reload may have opened the same file again.)
      if (!mapped) {
        void* page = reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(info->si_addr) & ~(g_page_size - 1));
        mapped = true;
        handled = ::mmap(page, g_page_size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED;
      }
      if (handled) s.damaged.store(true, std::memory_order_release);
    }
  }
  if (!handled) {
    // Not ours: the action from before, which the repeated access then meets (the
    // default: a core dump; the fatal signal handler first writes the log lines).
    ::sigaction(SIGBUS, &g_previous, nullptr);
  }
  errno = saved_errno;
}

void install() {
  long page = ::sysconf(_SC_PAGESIZE);
  if (page > 0) g_page_size = static_cast<std::uintptr_t>(page);
  struct sigaction sa {};
  sa.sa_sigaction = on_sigbus;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGBUS, &sa, &g_previous);
}

}  // namespace

int watch(dev_t dev, ino_t ino) {
  std::call_once(g_installed, install);
  std::lock_guard lock(g_claim);
  for (int i = 0; i < kSlots; ++i) {
    Slot& s = g_slots[i];
    if (s.used.load(std::memory_order_relaxed)) continue;
    s.dev_major.store(major(dev), std::memory_order_relaxed);
    s.dev_minor.store(minor(dev), std::memory_order_relaxed);
    s.ino.store(static_cast<unsigned long>(ino), std::memory_order_relaxed);
    s.damaged.store(false, std::memory_order_relaxed);
    s.used.store(true, std::memory_order_release);
    return i;
  }
  return -1;
}

void unwatch(int slot) {
  if (slot < 0 || slot >= kSlots) return;
  std::lock_guard lock(g_claim);
  g_slots[slot].used.store(false, std::memory_order_release);
}

bool damaged(int slot) {
  return slot >= 0 && slot < kSlots && g_slots[slot].damaged.load(std::memory_order_acquire);
}

}  // namespace whoisd::mapping_guard
