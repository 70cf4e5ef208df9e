// The query parser: turns the bytes of one client line into a lookup of a
// registered .pt domain, the help query, or an invalid query (SPEC §2).
// No I/O. Everything that is not a .pt domain is rejected here, before any
// lookup, so the rest of the daemon only ever sees well-formed A-labels.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/uts46_mapper.h"

namespace whoisd {

// Longest line a client may send (without the LF); longer lines are invalid.
inline constexpr std::size_t kMaxQueryLineBytes = 1024;

struct ParsedQuery {
  enum class Kind { lookup, help, invalid };
  Kind kind = Kind::invalid;
  std::string a_label;             // lookup: the REGISTERED domain, A-label, lower case, no trailing dot
  std::string u_label;             // lookup: the same in Unicode (UTF-8)
  bool below_registration = false; // lookup: the client named a host below it (www.example.pt)
  std::string reason;              // invalid: short fixed text, safe to echo (no client bytes)
};

// Construct once; parse() is const and thread-safe (ICU's UIDNA object is
// immutable after creation and documented as safe for concurrent use).
class QueryParser {
 public:
  QueryParser();  // throws std::runtime_error if ICU cannot create the UTS #46 mapper
  QueryParser(const QueryParser&) = delete;
  QueryParser& operator=(const QueryParser&) = delete;

  // `line`: the query line as framed (query_line.h): the bytes before CR LF (or LF).
  ParsedQuery parse(std::string_view line) const;
  // The same into `out`, every field assigned, its strings reusing their capacity (the
  // server parses into one ParsedQuery per thread: no allocation per query).
  void parse(std::string_view line, ParsedQuery& out) const;

  // As parse(), but every name goes through ICU, also plain ASCII ones that
  // parse() checks itself. For tests and the fuzzer: both must always agree.
  ParsedQuery parse_without_ascii_fast_path(std::string_view line) const;

 private:
  void parse_impl(std::string_view line, bool ascii_fast_path, ParsedQuery& out) const;

  Uts46Mapper idna_;
};

}  // namespace whoisd
