#include "common/fatal_signal.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/log_output.h"
#include "common/signal_safe_clock.h"

namespace whoisd::fatal_signal {
namespace {

#if defined(__SANITIZE_THREAD__)
constexpr bool kUnderThreadSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr bool kUnderThreadSanitizer = true;
#else
constexpr bool kUnderThreadSanitizer = false;
#endif
#else
constexpr bool kUnderThreadSanitizer = false;
#endif

constexpr std::int64_t kMs = 1'000'000;  // nanoseconds
// From the signal: how long the handler may wait for the buffer's lock, for the batch
// the writer thread is writing, to write the queued lines, and to write the final line.
constexpr std::int64_t kLockWait = 200 * kMs;
constexpr std::int64_t kBatchWait = 500 * kMs;
constexpr std::int64_t kQueuedDeadline = 1500 * kMs;
constexpr std::int64_t kFinalDeadline = 1750 * kMs;

struct Handled {
  int number;
  const char* name;
};
constexpr Handled kSignals[] = {{SIGABRT, "SIGABRT"}, {SIGSEGV, "SIGSEGV"}, {SIGBUS, "SIGBUS"},
                                {SIGFPE, "SIGFPE"},   {SIGILL, "SIGILL"}};
constexpr int kCount = sizeof kSignals / sizeof kSignals[0];

struct sigaction g_previous[kCount];  // what each signal did before install()
std::atomic<bool> g_installed{false};
std::atomic<pid_t> g_handling{0};  // the thread writing the report, once one is

// ---- writing with a deadline ----

struct Sink {
  enum Kind { nonblocking, socket, polled } kind = polled;
  int fd = STDERR_FILENO;
};

// O_NONBLOCK belongs to the open file, which standard error shares with other processes
// (the pipe's other writers, a terminal): it is not set on descriptor 2. A pipe gets an
// open file of its own instead, a socket a flag for each send.
Sink open_sink() {
  struct stat st {};
  if (::fstat(STDERR_FILENO, &st) == 0) {
    if (S_ISSOCK(st.st_mode)) return {Sink::socket, STDERR_FILENO};
    if (S_ISFIFO(st.st_mode)) {
      const int fd = ::open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
      if (fd >= 0) return {Sink::nonblocking, fd};
    }
  }
  return {Sink::polled, STDERR_FILENO};
}

// Waits until fd takes data (or has an error, which the write then meets); false at the deadline.
bool wait_writable(int fd, std::int64_t deadline) {
  for (;;) {
    const std::int64_t left = deadline - monotonic_ns();
    if (left <= 0) return false;
    pollfd p{fd, POLLOUT, 0};
    const int ready = ::poll(&p, 1, static_cast<int>((left + kMs - 1) / kMs));
    if (ready > 0) return true;
    if (ready < 0 && errno != EINTR) return false;
  }
}

// Writes as much of data as standard error takes before the deadline; returns how much.
std::size_t write_until(const Sink& sink, const char* data, std::size_t size, std::int64_t deadline) {
  std::size_t done = 0;
  while (done < size) {
    std::size_t piece = size - done;
    if (sink.kind == Sink::polled) {
      // A blocking write of at most PIPE_BUF bytes, once poll says there is room, does
      // not wait for a reader (a pipe had no descriptor of its own: /proc not mounted).
      piece = std::min<std::size_t>(piece, PIPE_BUF);
      if (!wait_writable(sink.fd, deadline)) break;
    }
    const ssize_t n = sink.kind == Sink::socket ? ::send(sink.fd, data + done, piece, MSG_DONTWAIT | MSG_NOSIGNAL)
                                                : ::write(sink.fd, data + done, piece);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && wait_writable(sink.fd, deadline)) continue;
    break;  // the deadline, or an error (EPIPE: nobody reads any more)
  }
  return done;
}

// ---- the final line, built without allocating ----

class LineBuffer {
 public:
  void text(std::string_view s) {
    for (char c : s)
      if (size_ < sizeof buf_ - 1) buf_[size_++] = c;
  }
  void number(std::uint64_t n, unsigned base = 10, unsigned min_digits = 1) {
    char digits[24];
    unsigned count = 0;
    do {
      digits[count++] = "0123456789abcdef"[n % base];
      n /= base;
    } while (n > 0 || count < min_digits);
    while (count > 0) text(std::string_view(&digits[--count], 1));
  }
  void signed_number(std::int64_t n) {
    if (n < 0) text("-");
    number(n < 0 ? 0 - static_cast<std::uint64_t>(n) : static_cast<std::uint64_t>(n));
  }
  std::string_view view() const { return {buf_, size_}; }

 private:
  char buf_[512];
  std::size_t size_ = 0;
};

// ts= as log.cpp writes it (gmtime_r may take glibc's time zone lock: days to a date here).
void timestamp(LineBuffer& line) {
  const std::int64_t secs = clock_ns(CLOCK_REALTIME) / 1'000'000'000;
  std::int64_t days = secs / 86400;
  std::int64_t rest = secs % 86400;
  if (rest < 0) {
    rest += 86400;
    --days;
  }
  // Howard Hinnant's civil_from_days.
  days += 719468;
  const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const std::int64_t doe = days - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  const std::int64_t day = doy - (153 * mp + 2) / 5 + 1;
  const std::int64_t month = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  line.text("ts=");
  line.number(static_cast<std::uint64_t>(year), 10, 4);
  line.text("-");
  line.number(static_cast<std::uint64_t>(month), 10, 2);
  line.text("-");
  line.number(static_cast<std::uint64_t>(day), 10, 2);
  line.text("T");
  line.number(static_cast<std::uint64_t>(rest / 3600), 10, 2);
  line.text(":");
  line.number(static_cast<std::uint64_t>(rest / 60 % 60), 10, 2);
  line.text(":");
  line.number(static_cast<std::uint64_t>(rest % 60), 10, 2);
  line.text("Z");
}

// si_code's name (siginfo.h), or its number.
void code_name(LineBuffer& line, int sig, int code) {
  static constexpr const char* kSegv[] = {"SEGV_MAPERR", "SEGV_ACCERR", "SEGV_BNDERR", "SEGV_PKUERR"};
  static constexpr const char* kBus[] = {"BUS_ADRALN", "BUS_ADRERR", "BUS_OBJERR", "BUS_MCEERR_AR", "BUS_MCEERR_AO"};
  static constexpr const char* kFpe[] = {"FPE_INTDIV", "FPE_INTOVF", "FPE_FLTDIV", "FPE_FLTOVF",
                                         "FPE_FLTUND", "FPE_FLTRES", "FPE_FLTINV", "FPE_FLTSUB"};
  static constexpr const char* kIll[] = {"ILL_ILLOPC", "ILL_ILLOPN", "ILL_ILLADR", "ILL_ILLTRP",
                                         "ILL_PRVOPC", "ILL_PRVREG", "ILL_COPROC", "ILL_BADSTK"};
  const auto pick = [&](const char* const* names, int count) -> const char* {
    return code >= 1 && code <= count ? names[code - 1] : nullptr;
  };
  const char* name = nullptr;
  switch (code) {
    case SI_USER: name = "SI_USER"; break;      // kill(2): systemd's watchdog, an operator
    case SI_KERNEL: name = "SI_KERNEL"; break;
    case SI_QUEUE: name = "SI_QUEUE"; break;
    case SI_TKILL: name = "SI_TKILL"; break;    // raise(3), abort(3)
    default:
      if (sig == SIGSEGV) name = pick(kSegv, 4);
      if (sig == SIGBUS) name = pick(kBus, 5);
      if (sig == SIGFPE) name = pick(kFpe, 8);
      if (sig == SIGILL) name = pick(kIll, 8);
  }
  if (name)
    line.text(name);
  else
    line.signed_number(code);
}

// The thread's name (prctl, as top -H shows it), with anything outside [A-Za-z0-9._-]
// as '_': a bare value, never quoted.
void thread_name(LineBuffer& line) {
  char name[17] = {};
  if (::prctl(PR_GET_NAME, name, 0, 0, 0) != 0 || name[0] == '\0') {
    line.text("unknown");
    return;
  }
  for (const char* p = name; *p; ++p) {
    const char c = *p;
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                       c == '_' || c == '-';
    line.text(std::string_view(plain ? p : "_", 1));
  }
}

const char* signal_name(int sig) {
  for (const Handled& h : kSignals)
    if (h.number == sig) return h.name;
  return "unknown";
}

std::size_t count_lines(std::string_view text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

// The queued lines, then the fatal_signal line, each within its deadline.
void report(int sig, const siginfo_t* info) {
  const std::int64_t start = monotonic_ns();
  const Sink sink = open_sink();
  const log::QueuedAtCrash queued = log::take_queued_lines_at_crash(start + kLockWait, start + kBatchWait);
  bool cut = queued.after_cut;  // the output ends inside a line
  std::size_t written = 0, lost = 0;
  if (!queued.lines.empty()) {
    if (cut && write_until(sink, "\n", 1, start + kQueuedDeadline) == 1) cut = false;
    const std::size_t done =
        cut ? 0 : write_until(sink, queued.lines.data(), queued.lines.size(), start + kQueuedDeadline);
    written = count_lines(queued.lines.substr(0, done));
    lost = count_lines(queued.lines.substr(done));
    if (done > 0) cut = queued.lines[done - 1] != '\n';
  }

  LineBuffer line;
  if (cut) line.text("\n");
  timestamp(line);
  line.text(" level=error event=fatal_signal signal=");
  line.text(signal_name(sig));
  line.text(" code=");
  code_name(line, sig, info ? info->si_code : SI_USER);
  if (info && info->si_code > 0 && sig != SIGABRT) {
    line.text(" addr=0x");  // the faulting address (for SIGFPE and SIGILL: the instruction's)
    line.number(reinterpret_cast<std::uintptr_t>(info->si_addr), 16);
  }
  if (info && info->si_code <= 0 && info->si_pid != ::getpid()) {
    line.text(" sender_pid=");  // another process sent it (systemd's watchdog: pid 1)
    line.signed_number(info->si_pid);
    line.text(" sender_uid=");
    line.number(info->si_uid);
  }
  line.text(" thread=");
  thread_name(line);
  line.text(" tid=");
  line.signed_number(kernel_thread_id());
  line.text(" queued_written=");
  line.number(written);
  if (queued.unreadable) {
    line.text(" queued_lost=unknown");  // the buffer's lock stayed held
  } else if (lost > 0) {
    line.text(" queued_lost=");  // standard error did not take them in time
    line.number(lost);
  }
  line.text("\n");
  write_until(sink, line.view().data(), line.view().size(), start + kFinalDeadline);
}

// The signal as if this handler had not been there: the previous action back, a sent
// signal sent again (pending until the handler returns: it is blocked in it), a fault met
// again when the faulting instruction runs again on return, with the kernel's own
// siginfo (what a sanitizer's handler reports, what the core dump records).
void pass_on(int sig, const siginfo_t* info) {
  for (int i = 0; i < kCount; ++i) {
    if (kSignals[i].number != sig) continue;
    struct sigaction previous = g_previous[i];
    if (!(previous.sa_flags & SA_SIGINFO) && previous.sa_handler == SIG_IGN) previous.sa_handler = SIG_DFL;
    ::sigaction(sig, &previous, nullptr);
  }
  if (info == nullptr || info->si_code <= 0) ::raise(sig);
}

void on_fatal_signal(int sig, siginfo_t* info, void*) {
  const int saved_errno = errno;
  const pid_t self = kernel_thread_id();
  pid_t nobody = 0;
  if (g_handling.compare_exchange_strong(nobody, self)) {
    report(sig, info);
  } else if (nobody != self) {
    // Another thread is reporting, and ends the process once done: wait for it (bounded,
    // should it be stuck), then go on, as this thread would have without the handler.
    const std::int64_t deadline = monotonic_ns() + kFinalDeadline + 1000 * kMs;
    const timespec pause{0, 10 * kMs};
    while (monotonic_ns() < deadline) ::nanosleep(&pause, nullptr);
  }
  // (This very thread again, already reporting or past it: a fault in the handler, or a
  // sanitizer's handler ending in abort(): straight on.)
  pass_on(sig, info);
  errno = saved_errno;
}

// ---- alternate signal stacks ----

struct AlternateStack {
  void* base = nullptr;  // the mapping: a guard page, then the stack
  std::size_t size = 0;
  ~AlternateStack() {
    if (base == nullptr) return;
    stack_t current{};
    if (::sigaltstack(nullptr, &current) == 0 && current.ss_sp == static_cast<char*>(base) + page_size()) {
      stack_t off{};
      off.ss_flags = SS_DISABLE;
      ::sigaltstack(&off, nullptr);
    }
    ::munmap(base, size);
  }
  static std::size_t page_size() {
    const long page = ::sysconf(_SC_PAGESIZE);
    return page > 0 ? static_cast<std::size_t>(page) : 4096;
  }
};
thread_local AlternateStack t_alternate_stack;

}  // namespace

bool supported() { return !kUnderThreadSanitizer; }

void install() {
  if (!supported() || g_installed.exchange(true)) return;
  (void)log::lines_dropped();  // the log output's state exists before a handler reads it
  struct sigaction action {};
  action.sa_sigaction = on_fatal_signal;
  // Not SA_RESETHAND: pass_on() puts the previous action back once the report is
  // written; reset on entry, the same signal in another thread would meanwhile end the
  // process with the default action, cutting the report short.
  action.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  // Blocked in the handler: a sent one waits for pass_on(); a fault in the handler
  // itself meets the default action (the kernel forces it for a blocked fault).
  for (const Handled& h : kSignals) sigaddset(&action.sa_mask, h.number);
  for (int i = 0; i < kCount; ++i) ::sigaction(kSignals[i].number, &action, &g_previous[i]);
  use_alternate_stack();
}

bool installed() { return g_installed.load(); }

void use_alternate_stack() noexcept {
  if (!installed() || t_alternate_stack.base != nullptr) return;
  stack_t current{};
  if (::sigaltstack(nullptr, &current) == 0 && !(current.ss_flags & SS_DISABLE)) return;  // a sanitizer's
  const std::size_t page = AlternateStack::page_size();
  const long wanted = ::sysconf(_SC_SIGSTKSZ);
  // The handler needs little (a 512-byte line, a few calls); a sanitizer's handler, to
  // which it may pass the signal, more.
  std::size_t stack_size = std::max<std::size_t>(64 * 1024, wanted > 0 ? static_cast<std::size_t>(wanted) : 0);
  stack_size = (stack_size + page - 1) / page * page;
  void* base = ::mmap(nullptr, page + stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) return;  // no alternate stack: a stack overflow ends the process unreported
  ::mprotect(base, page, PROT_NONE);  // an overflow of this stack faults rather than writing below it
  stack_t stack{};
  stack.ss_sp = static_cast<char*>(base) + page;
  stack.ss_size = stack_size;
  if (::sigaltstack(&stack, nullptr) != 0) {
    ::munmap(base, page + stack_size);
    return;
  }
  t_alternate_stack.base = base;
  t_alternate_stack.size = page + stack_size;
}

}  // namespace whoisd::fatal_signal
