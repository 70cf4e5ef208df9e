// Memory and CPU of the server under test, sampled from /proc on a thread of its own
// (so that reading /proc never delays the load): peak resident set (VmHWM), and the
// resident set minus the pages of the snapshot file mapped into it, which is the memory
// the daemon itself costs (the snapshot's pages are the kernel's page cache, shared and
// reclaimable).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

namespace whoisd::bench {

struct ProcessMemory {
  std::uint64_t rss_kb = 0;
  std::uint64_t hwm_kb = 0;        // VmHWM: peak RSS since the process started
  std::uint64_t file_rss_kb = 0;   // RSS of mappings whose path starts with the watched prefix
  std::uint64_t anon_rss_kb = 0;   // RssAnon
  std::uint64_t cpu_ticks = 0;     // utime + stime
  bool ok = false;
};

// One reading; `mapped_prefix` may be empty (then file_rss_kb is 0).
ProcessMemory read_process_memory(pid_t pid, const std::string& mapped_prefix);

class ProcessWatch {
 public:
  ProcessWatch(pid_t pid, std::string mapped_prefix, unsigned interval_ms = 100);
  ~ProcessWatch();
  void stop();
  std::uint64_t peak_rss_kb() const { return peak_rss_kb_; }
  std::uint64_t peak_beyond_mapped_kb() const { return peak_beyond_kb_; }  // max of rss - file_rss
  std::uint64_t hwm_kb() const { return last_.hwm_kb; }
  std::uint64_t last_rss_kb() const { return last_.rss_kb; }
  std::uint64_t last_mapped_kb() const { return last_.file_rss_kb; }
  double cpu_seconds() const;  // CPU the process used between start and stop
  bool ok() const { return first_.ok && last_.ok; }

 private:
  void sample();
  pid_t pid_;
  std::string prefix_;
  unsigned interval_ms_;
  std::atomic<bool> stopping_{false};
  ProcessMemory first_, last_;
  std::uint64_t peak_rss_kb_ = 0, peak_beyond_kb_ = 0;
  std::thread thread_;
};

}  // namespace whoisd::bench
