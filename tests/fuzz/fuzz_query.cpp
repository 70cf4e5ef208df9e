// libFuzzer target for the query parser: the input is one line as the framing
// gives it (query_line.h: the bytes before CR LF or LF; a CR left in it is a control
// character, as the seed ascii-cr shows). Beyond "does not crash", it checks what the
// rest of the daemon relies on: a lookup is a well-formed .pt A-label that parses
// back to itself, a reason is short fixed ASCII text without the words clients
// read as "not registered", and the ASCII fast path agrees with ICU.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "query/query_parser.h"

namespace {

using whoisd::ParsedQuery;

const whoisd::QueryParser& parser() {
  static const whoisd::QueryParser p;
  return p;
}

// Says which invariant broke before libFuzzer saves the input.
#define require(ok)                                                              \
  do {                                                                           \
    if (!(ok)) {                                                                 \
      std::fprintf(stderr, "fuzz_query: invariant failed at line %d: %s\n", __LINE__, #ok); \
      std::abort();                                                              \
    }                                                                            \
  } while (0)

bool same(const ParsedQuery& a, const ParsedQuery& b) {
  return a.kind == b.kind && a.a_label == b.a_label && a.u_label == b.u_label &&
         a.below_registration == b.below_registration && a.reason == b.reason;
}

bool contains_ci(std::string_view text, std::string_view word) {
  if (word.size() > text.size()) return false;
  for (std::size_t i = 0; i + word.size() <= text.size(); ++i) {
    bool match = true;
    for (std::size_t k = 0; k < word.size() && match; ++k) {
      char c = text[i + k];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      match = c == word[k];
    }
    if (match) return true;
  }
  return false;
}

bool is_hierarchy(std::string_view l) {
  return l == "com" || l == "org" || l == "edu" || l == "gov" || l == "net" || l == "int" ||
         l == "publ" || l == "nome";
}

void check_lookup(const ParsedQuery& q) {
  const std::string_view a = q.a_label;
  require(a.size() >= 5 && a.size() <= 253);
  require(a.substr(a.size() - 3) == ".pt");
  require(a.front() != '.' && a.front() != '-');
  for (const char c : a)
    require((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.');
  require(a.find("..") == std::string_view::npos);
  // One registered label, maybe one hierarchy, then pt: at most 2 dots.
  const auto first_dot = a.find('.');
  const auto rest = a.substr(first_dot + 1);
  require(rest == "pt" || (is_hierarchy(rest.substr(0, rest.size() - 3)) &&
                           rest.find('.') == rest.size() - 3));
  require(!is_hierarchy(a.substr(0, first_dot)) || rest != "pt");
  require(!q.u_label.empty() && q.reason.empty());

  // The A-label and the U-label are the same query as what the client sent.
  for (const std::string& form : {q.a_label, q.u_label}) {
    const auto again = parser().parse(form);
    require(again.kind == ParsedQuery::Kind::lookup);
    require(again.a_label == q.a_label && again.u_label == q.u_label);
    require(!again.below_registration);
  }
}

void check_invalid(const ParsedQuery& q) {
  require(!q.reason.empty() && q.reason.size() <= 64);
  for (const char c : q.reason) require(c >= 0x20 && c < 0x7F);
  require(!contains_ci(q.reason, "error"));
  require(!contains_ci(q.reason, "not found"));
  require(!contains_ci(q.reason, "restricted"));
  require(q.a_label.empty() && q.u_label.empty() && !q.below_registration);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  const auto q = parser().parse(line);
  require(same(q, parser().parse_without_ascii_fast_path(line)));
  // Parsed into a ParsedQuery that holds what earlier inputs left in it, as the server does.
  static ParsedQuery reused;
  parser().parse(line, reused);
  require(same(q, reused));

  if (line.size() > whoisd::kMaxQueryLineBytes)
    require(q.kind == ParsedQuery::Kind::invalid && q.reason == "line too long");

  switch (q.kind) {
    case ParsedQuery::Kind::lookup: check_lookup(q); break;
    case ParsedQuery::Kind::invalid: check_invalid(q); break;
    case ParsedQuery::Kind::help: require(contains_ci(line, "help")); break;
  }
  return 0;
}
