#include "support/temp_dir.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <vector>

namespace whoisd::test {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/whoisd-test-XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (::mkdtemp(buffer.data()) == nullptr) {
    throw std::runtime_error(pattern + ": mkdtemp failed: " + std::strerror(errno));
  }
  path_ = buffer.data();
}

TempDir::~TempDir() {
  // A test may have made the directory or its files read-only: give write access back
  // so that removal works when the tests do not run as root.
  std::error_code ec;
  ::chmod(path_.c_str(), 0700);
  for (const auto& entry : std::filesystem::recursive_directory_iterator(path_, ec)) {
    ::chmod(entry.path().c_str(), entry.is_directory() ? 0700 : 0600);
  }
  std::filesystem::remove_all(path_, ec);
}

}  // namespace whoisd::test
