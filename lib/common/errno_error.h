// A failure with the errno(3) value that caused it, for the callers that pass the value
// on: a failed start tells systemd ERRNO= beside its STATUS= (systemctl status shows
// both). what() is the whole message, as for any std::runtime_error, which is how every
// other caller treats it; std::system_error would append strerror() to the words
// already written for the operator.
#pragma once

#include <stdexcept>
#include <string>

namespace whoisd {

class ErrnoError : public std::runtime_error {
 public:
  ErrnoError(const std::string& what, int error) : std::runtime_error(what), error_(error) {}
  int error() const { return error_; }

 private:
  int error_;
};

}  // namespace whoisd
