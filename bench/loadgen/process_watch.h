// Memory and CPU of the server under test, sampled from /proc on a thread of its own
// (so that reading /proc never delays the load): peak resident set (VmHWM), and the
// memory the daemon itself costs: its resident set minus the pages of the snapshot
// file mapped into it (the snapshot's pages are the kernel's page cache, shared and
// reclaimable). Samples read only /proc/PID/status, whose counters cost nothing to
// read and are consistent with each other: anonymous + shmem pages each time, plus the
// file pages of mappings other than the snapshot (binary, libraries, the state
// database's -shm), taken from /proc/PID/smaps at the start and the end only, because
// walking smaps costs milliseconds on a process that maps a large file and would race
// with a snapshot swap.
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
  std::uint64_t anon_rss_kb = 0;   // RssAnon + RssShmem
  std::uint64_t file_rss_kb = 0;   // RssFile
  std::uint64_t cpu_ticks = 0;     // utime + stime
  bool ok = false;
};

// One reading of /proc/PID/status and /proc/PID/stat.
ProcessMemory read_process_memory(pid_t pid);
// RSS of file mappings whose path does NOT start with `mapped_prefix` (from smaps).
std::uint64_t other_file_rss_kb(pid_t pid, const std::string& mapped_prefix);

class ProcessWatch {
 public:
  ProcessWatch(pid_t pid, std::string mapped_prefix, unsigned interval_ms = 100);
  ~ProcessWatch();
  void stop();
  std::uint64_t peak_rss_kb() const { return peak_rss_kb_; }
  // Peak anonymous + shmem RSS, plus the RSS of files other than the snapshot.
  std::uint64_t peak_beyond_mapped_kb() const { return peak_beyond_kb_; }
  std::uint64_t hwm_kb() const { return last_.hwm_kb; }
  std::uint64_t last_rss_kb() const { return last_.rss_kb; }
  std::uint64_t last_mapped_kb() const;  // the snapshot's resident pages at the end
  double cpu_seconds() const;  // CPU the process used between start and stop
  bool ok() const { return first_.ok && last_.ok; }

 private:
  void sample();
  pid_t pid_;
  std::string prefix_;
  unsigned interval_ms_;
  std::atomic<bool> stopping_{false};
  ProcessMemory first_, last_;
  std::uint64_t peak_rss_kb_ = 0, peak_anon_kb_ = 0, peak_beyond_kb_ = 0, other_file_kb_ = 0;
  std::thread thread_;
};

}  // namespace whoisd::bench
