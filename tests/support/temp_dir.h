// A private temporary directory for one test, removed (with its contents) when the
// object goes out of scope. Include as "support/temp_dir.h".
#pragma once

#include <string>

namespace whoisd::test {

class TempDir {
 public:
  TempDir();  // creates $TMPDIR/whoisd-test-XXXXXX (or /tmp/...)
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + name
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace whoisd::test
