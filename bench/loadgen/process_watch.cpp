#include "process_watch.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <fstream>
#include <sstream>

namespace whoisd::bench {

namespace {
std::uint64_t kb_field(const std::string& line) {
  std::istringstream in(line.substr(line.find(':') + 1));
  std::uint64_t value = 0;
  in >> value;
  return value;
}
}  // namespace

ProcessMemory read_process_memory(pid_t pid) {
  ProcessMemory m;
  const std::string dir = "/proc/" + std::to_string(pid) + "/";
  std::ifstream status(dir + "status");
  if (!status) return m;
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("VmRSS:")) m.rss_kb = kb_field(line);
    else if (line.starts_with("VmHWM:")) m.hwm_kb = kb_field(line);
    else if (line.starts_with("RssAnon:") || line.starts_with("RssShmem:")) m.anon_rss_kb += kb_field(line);
    else if (line.starts_with("RssFile:")) m.file_rss_kb = kb_field(line);
  }
  std::ifstream stat(dir + "stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto close_paren = text.rfind(')');
  if (close_paren != std::string::npos) {
    std::istringstream fields(text.substr(close_paren + 2));
    std::string field;
    // After "pid (comm) ": state is field 3; utime and stime are fields 14 and 15.
    for (int i = 3; i <= 15 && fields >> field; ++i)
      if (i == 14 || i == 15) m.cpu_ticks += std::stoull(field);
  }
  m.ok = m.rss_kb > 0;
  return m;
}

std::uint64_t other_file_rss_kb(pid_t pid, const std::string& mapped_prefix) {
  // smaps: a header line per mapping ("addr-addr perms offset dev inode   path"), then
  // "Key: value kB" lines. A snapshot replaced on disk shows as "path (deleted)".
  std::ifstream smaps("/proc/" + std::to_string(pid) + "/smaps");
  std::string line;
  bool counted = false;
  std::uint64_t total = 0;
  while (std::getline(smaps, line)) {
    const auto first_space = line.find(' ');
    const auto dash = line.find('-');
    if (!line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) && dash < first_space &&
        line.find(':') > first_space) {
      const auto slash = line.find('/');
      counted = slash != std::string::npos &&
                (mapped_prefix.empty() || line.compare(slash, mapped_prefix.size(), mapped_prefix) != 0);
    } else if (counted && line.starts_with("Rss:")) {
      total += kb_field(line);
    }
  }
  return total;
}

ProcessWatch::ProcessWatch(pid_t pid, std::string mapped_prefix, unsigned interval_ms)
    : pid_(pid), prefix_(std::move(mapped_prefix)), interval_ms_(interval_ms) {
  other_file_kb_ = other_file_rss_kb(pid_, prefix_);
  sample();
  first_ = last_;
  thread_ = std::thread([this] {
    while (!stopping_.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms_));
      sample();
    }
  });
}

ProcessWatch::~ProcessWatch() { stop(); }

void ProcessWatch::stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  thread_.join();
  other_file_kb_ = std::max(other_file_kb_, other_file_rss_kb(pid_, prefix_));
  sample();
}

std::uint64_t ProcessWatch::last_mapped_kb() const {
  return last_.file_rss_kb - std::min(last_.file_rss_kb, other_file_kb_);
}

void ProcessWatch::sample() {
  const ProcessMemory m = read_process_memory(pid_);
  if (!m.ok) return;
  last_ = m;
  peak_rss_kb_ = std::max(peak_rss_kb_, m.rss_kb);
  peak_anon_kb_ = std::max(peak_anon_kb_, m.anon_rss_kb);
  peak_beyond_kb_ = peak_anon_kb_ + other_file_kb_;
}

double ProcessWatch::cpu_seconds() const {
  return static_cast<double>(last_.cpu_ticks - first_.cpu_ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace whoisd::bench
