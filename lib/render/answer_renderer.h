// Turns a published registration, or one of the fixed outcomes of a query, into
// the exact text the service sends back (FORMAT.md; SPEC §3). Every answer is one
// std::string with CRLF line ends, in UTF-8, so that the server writes it in one
// piece (node clients garble a UTF-8 character split across two writes).
//
// What is published is decided by the type, not by this code: found() receives a
// PublishedDomain, which holds only the fields the policy publishes. The renderer
// decides how they look and that a value from the snapshot is only ever data:
// every value goes through append_answer_value() (render/answer_value.h), which
// removes line breaks and other control characters and bounds the length, so no
// record can add a line, forge a label or flood an answer. Name server hosts,
// glue addresses and DS digests are also kept one word (append_answer_word), since
// parsers split the Name Server line on spaces and collect host-like words.
//
// Header and footer (the [answers] lines of the configuration):
//  - A found answer is: header lines, then (below_registration only)
//    "% Answer for the registered domain <domain>", then the fields from
//    "Domain:" on, then the footer lines. With the default empty header the
//    "% Answer for ..." line is the first line of the answer.
//  - A fixed answer (no match, invalid query, help, the two limit answers, too
//    many connections) never gets the header: its first line is what a program
//    matches on (FORMAT.md "first line, exactly"). It gets the footer only when
//    the whole answer stays under five lines AND no footer line holds one of the
//    words client libraries read as "not registered" ("error", "not found",
//    "restricted", any case); otherwise it is its own line(s) alone. Client
//    libraries judge short answers by line count and by those words, so a long or
//    unlucky footer must not turn "limit exceeded" into "domain not found".
//  - Configured lines are cleaned like values (no control characters, at most
//    kMaxValueCodePoints characters) and start with "% " ("%" alone for an empty
//    line): a line that does not start with '%' gets "% " put in front.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "snapshot/published_domain.h"

namespace whoisd {

struct AnswerTexts {
  std::vector<std::string> header;  // configured lines, "% " prefixed
  std::vector<std::string> footer;
  // The limiter's counting window, for the wording "made N queries in 24 hours".
  // FORMAT.md words it for the default 24 h; another window is named as it is.
  std::int64_t limit_window_seconds = 86'400;
};

// The text that replaces each personal value of a contact who opted out.
inline constexpr std::string_view kNotDisclosed = "Not disclosed";

// Fixed answers hold fewer lines than this, footer included (FORMAT.md).
inline constexpr std::size_t kFixedAnswerMaxLines = 4;
// The longest footer the one-line fixed answers (no match, invalid query, both limit
// answers) can carry: the limit answers need it to say whom to contact (SPEC §4).
inline constexpr std::size_t kMaxFooterLines = kFixedAnswerMaxLines - 1;

// Why a configured header or footer line would mislead client libraries, or "" when
// it would not: a line holding "no match" (Net::Whois::Raw's not-found text for .pt,
// matched in every answer, found ones included), "not found", "error" or
// "restricted" (any case) can make a parser report a registered domain as free.
// A line longer than kMaxValueCodePoints characters, which the renderer would cut, is
// a problem too. The configuration loader refuses such a line with this reason; the
// renderer, given a footer with a misleading word all the same, keeps it off the
// fixed answers (a line too long it cuts, as any value).
std::string configured_line_problem(std::string_view line);

class AnswerRenderer {  // const methods, thread-safe; every answer is one std::string, CRLF, UTF-8
 public:
  explicit AnswerRenderer(AnswerTexts texts = {});

  // The found answer. below_registration: the query named a host below the
  // registered domain (www.example.pt), so the answer says which domain it is for.
  std::string found(const PublishedDomain& d, bool below_registration) const;

  std::string no_match(std::string_view domain) const;  // "<domain> - no match"
  std::string invalid(std::string_view reason) const;   // "Invalid query: <reason>"
  std::string help() const;

  // The query that crossed the limit:
  // "Query limit exceeded: <source> made <limit> queries in 24 hours; suspended until <T> (suspension <n>)"
  std::string limit_crossed(std::string_view source, std::uint32_t limit, std::int64_t until,
                            std::uint32_t episode) const;
  // Any query while suspended:
  // "Query limit exceeded: <source> is suspended until <T> (suspension <n>)"
  std::string suspended(std::string_view source, std::int64_t until, std::uint32_t episode) const;
  std::string too_many_connections(std::string_view source) const;  // "Too many connections from <source>"

 private:
  // Appends the footer when the rule above allows it, and returns the answer.
  std::string finish_fixed(std::string answer, std::size_t lines) const;

  std::string header_block_;      // the header lines, each ending in CRLF
  std::string footer_block_;      // the footer lines, each ending in CRLF
  std::size_t footer_lines_ = 0;
  bool footer_fits_fixed_ = true;  // no client-misleading word in the footer
  std::string window_text_;       // "24 hours"
};

}  // namespace whoisd
